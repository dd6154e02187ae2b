package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/durable"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Files and folders of an output folder.
const (
	CheckpointsDir   = "checkpoints"
	StateFile        = "trainer_state.json"
	OptimizerFile    = "optimizer.safetensors"
	LossPlotFile     = "loss.png"
	checkpointPrefix = "step-"
)

// Summary is what a finished (or stopped) run reports.
type Summary struct {
	Steps, Total int
	Stages       []string
	Trained      map[Group]int // parameters trained per group (by any stage that ran)
	FirstLoss    float64
	FinalLoss    float64
	EvalLoss     float64
	EvalExact    float64 // with Config.ExactMatch
	HasEval      bool
	Elapsed      time.Duration
	Out          string
	Checkpoint   string
	Skipped      int
	Stopped      bool // ended by StopAfter before the total
}

func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "trained %d/%d steps in %s (stages %s)\n", s.Steps, s.Total, s.Elapsed.Round(time.Millisecond), strings.Join(s.Stages, ", "))
	for _, g := range Groups() {
		if n, ok := s.Trained[g]; ok {
			fmt.Fprintf(&b, "  %-9s %d parameters trained\n", g, n)
		}
	}
	fmt.Fprintf(&b, "loss %.6f -> %.6f", s.FirstLoss, s.FinalLoss)
	if s.HasEval {
		fmt.Fprintf(&b, ", eval loss %.6f, exact match %.3f", s.EvalLoss, s.EvalExact)
	}
	fmt.Fprintf(&b, "\nskipped rows: %d\nmodel: %s (checkpoint %s)\n", s.Skipped, s.Out, s.Checkpoint)
	if s.Stopped {
		b.WriteString("stopped before the end: continue with -resume\n")
	}
	return b.String()
}

// Run trains until the total number of steps (or stopAfter > 0 steps in
// all, as an interruption would: a checkpoint is written and the schedule
// stays that of the full run). Cancelling ctx stops after the current
// step with a checkpoint. Checkpoints go to out/checkpoints/step-N (HF
// folders with the trainer state), and out itself always holds the
// latest weights as an HF folder.
func (t *Trainer) Run(ctx context.Context, stopAfter int) (*Summary, error) {
	lengths, err := t.schedule()
	if err != nil {
		return nil, err
	}
	total := 0
	for _, n := range lengths {
		total += n
	}
	start := time.Now()
	sum := &Summary{Total: total, Out: t.out, Skipped: len(t.skipped), Trained: map[Group]int{}}
	for _, s := range t.cfg.Recipe.Stages {
		sum.Stages = append(sum.Stages, s.Name)
	}
	saveEvery := t.cfg.SaveEvery
	lastSaved := t.st.Step
	// A step, its evaluation and its checkpoint run to their end whatever
	// ctx does (a step cut short would leave the data position advanced
	// past a batch it never trained on, and no checkpoint); ctx is checked
	// between steps.
	work := context.WithoutCancel(ctx)
	for t.st.Step < total {
		if stopAfter > 0 && t.st.Step >= stopAfter {
			sum.Stopped = true
			break
		}
		if ctx.Err() != nil {
			sum.Stopped = true
			break
		}
		t0 := time.Now()
		e, err := t.step(work, lengths)
		if err != nil {
			return nil, err
		}
		if t.cfg.EvalEvery > 0 && e.Step%t.cfg.EvalEvery == 0 && t.eval != nil {
			if e.EvalLoss, err = t.Evaluate(work); err != nil {
				return nil, err
			}
			e.HasEval = true
			if t.cfg.ExactMatch {
				if e.EvalExact, err = t.ExactMatch(work); err != nil {
					return nil, err
				}
			}
		}
		t.st.Log = append(t.st.Log, e)
		if e.HasEval { // refresh the plot with the new eval point
			if err := os.MkdirAll(t.out, 0o755); err != nil {
				return nil, err
			}
			if err := writeLossPlot(filepath.Join(t.out, LossPlotFile), t.st.Log, t.cfg.Recipe.Stages); err != nil {
				return nil, fmt.Errorf("train: loss plot: %w", err)
			}
		}
		el := time.Since(t0)
		if t.OnStep != nil {
			t.OnStep(StepInfo{LogEntry: e, Total: total, StageName: t.cfg.Recipe.Stages[e.Stage].Name,
				Elapsed: el, TokPerSec: float64(e.Tokens) / el.Seconds()})
		}
		if saveEvery > 0 && e.Step%saveEvery == 0 && e.Step < total {
			if _, err := t.Checkpoint(work); err != nil {
				return nil, err
			}
			lastSaved = e.Step
		}
	}
	if t.eval != nil {
		if sum.EvalLoss, err = t.Evaluate(work); err != nil {
			return nil, err
		}
		sum.HasEval = true
		if t.cfg.ExactMatch {
			if sum.EvalExact, err = t.ExactMatch(work); err != nil {
				return nil, err
			}
		}
	}
	if t.st.Step > lastSaved || sum.Stopped || t.st.Step == total {
		dir, err := t.Checkpoint(work)
		if err != nil {
			return nil, err
		}
		sum.Checkpoint = dir
	}
	sum.Steps = t.st.Step
	if len(t.st.Log) > 0 {
		sum.FirstLoss, sum.FinalLoss = t.st.Log[0].Loss, t.st.Log[len(t.st.Log)-1].Loss
	}
	trained := map[Group]bool{} // every group trained by a stage that ran
	for s := 0; s <= max(t.st.Stage, 0); s++ {
		for g := range t.lrs(s) {
			trained[g] = true
		}
	}
	for w, g := range t.groups {
		if trained[g] {
			sum.Trained[g] += w.Len()
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, ctx.Err()
}

// Checkpoint writes out/checkpoints/step-N: the model as an HF folder
// (Model.Save, atomic) with trainer_state.json and the optimizer moments,
// refreshes out's HF files and loss plot, and prunes old checkpoints
// (keeping KeepLast and the best).
func (t *Trainer) Checkpoint(ctx context.Context) (string, error) {
	dir := filepath.Join(t.out, CheckpointsDir, fmt.Sprintf("%s%06d", checkpointPrefix, t.st.Step))
	score := math.Inf(1)
	if n := len(t.st.Log); n > 0 {
		score = t.st.Log[n-1].Loss
		if t.st.Log[n-1].HasEval {
			score = t.st.Log[n-1].EvalLoss
		}
	}
	st := t.st
	if score < st.Best {
		st.Best, st.BestDir = score, filepath.Base(dir)
	}
	st.OptSteps = map[Group]int{}
	for g, o := range t.opts {
		st.OptSteps[g] = o.Steps()
	}
	err := t.model.Save(ctx, dir,
		fovea.WithExtraFile(StateFile, func(p string) error { return writeJSON(p, st) }),
		fovea.WithExtraFile(OptimizerFile, func(p string) error { return t.writeMoments(p) }))
	if err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	t.st.Best, t.st.BestDir = st.Best, st.BestDir
	if err := publishTop(dir, t.out); err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	if err := writeLossPlot(filepath.Join(t.out, LossPlotFile), t.st.Log, t.cfg.Recipe.Stages); err != nil {
		return "", fmt.Errorf("train: loss plot: %w", err)
	}
	if err := t.prune(); err != nil {
		return "", err
	}
	if t.OnCheckpoint != nil {
		t.OnCheckpoint(dir)
	}
	return dir, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(path, data)
}

// writeMoments saves the AdamW moments as "<group>.m.<name>" / "<group>.v.<name>".
func (t *Trainer) writeMoments(path string) error {
	out := map[string]*tensor.Tensor{}
	for g, o := range t.opts {
		for w, name := range t.names {
			m, v, ok := o.Moments(w)
			if !ok {
				continue
			}
			out[string(g)+".m."+name] = &tensor.Tensor{Shape: w.Shape, Data: m}
			out[string(g)+".v."+name] = &tensor.Tensor{Shape: w.Shape, Data: v}
		}
	}
	if len(out) == 0 {
		return safetensors.WriteEntries(path, nil, map[string]string{"format": "pt"})
	}
	return safetensors.Write(path, out, map[string]string{"format": "pt"})
}

// publishTop copies the HF files of a checkpoint into out (each file
// replaced atomically), so out loads as the latest model.
func publishTop(ckpt, out string) error {
	entries, err := os.ReadDir(ckpt)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == StateFile || e.Name() == OptimizerFile {
			continue
		}
		if err := copyAtomic(filepath.Join(ckpt, e.Name()), filepath.Join(out, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// Checkpoints lists the complete checkpoints of an output folder, oldest
// first (a folder appears only once Model.Save renamed it into place).
func Checkpoints(out string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(out, CheckpointsDir))
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), checkpointPrefix) {
			if _, err := os.Stat(filepath.Join(out, CheckpointsDir, e.Name(), StateFile)); err == nil {
				dirs = append(dirs, filepath.Join(out, CheckpointsDir, e.Name()))
			}
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// LatestCheckpoint is the newest complete checkpoint of out.
func LatestCheckpoint(out string) (string, error) {
	dirs, err := Checkpoints(out)
	if err != nil || len(dirs) == 0 {
		return "", fmt.Errorf("train: no checkpoint in %s to resume from", out)
	}
	return dirs[len(dirs)-1], nil
}

// prune removes checkpoints beyond the last KeepLast, except the best.
func (t *Trainer) prune() error {
	dirs, err := Checkpoints(t.out)
	if err != nil {
		return err
	}
	for i, d := range dirs {
		if i >= len(dirs)-t.cfg.KeepLast || filepath.Base(d) == t.st.BestDir {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// SavedConfig reads the run configuration stored in a checkpoint (a
// resumed run must use it so that the schedule and data order continue).
func SavedConfig(ckpt string) (Config, error) {
	var st runState
	data, err := os.ReadFile(filepath.Join(ckpt, StateFile))
	if err != nil {
		return Config{}, fmt.Errorf("train: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return Config{}, fmt.Errorf("train: %s: %w", StateFile, err)
	}
	return st.Config, nil
}

// Restore continues the run saved in ckpt: the step, data position, loss
// history and optimizer moments. The Trainer's model must have been
// loaded from ckpt (fovea.Load(ctx, ckpt, fovea.ForTraining())) and its
// Config must be SavedConfig(ckpt).
func (t *Trainer) Restore(ckpt string) error {
	data, err := os.ReadFile(filepath.Join(ckpt, StateFile))
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var st runState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("train: %s: %w", StateFile, err)
	}
	a, _ := json.Marshal(st.Config)
	b, _ := json.Marshal(t.cfg)
	if string(a) != string(b) {
		return fmt.Errorf("train: %s was written with another configuration (%s), this run has %s", ckpt, a, b)
	}
	if st.Data != t.st.Data {
		return fmt.Errorf("train: %s was trained on other data (fingerprint %.12s…, this run's data %.12s…): resume with the same -data file", ckpt, st.Data, t.st.Data)
	}
	src, err := safetensors.Open(filepath.Join(ckpt, OptimizerFile))
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer src.Close()
	lengths, err := t.schedule()
	if err != nil {
		return err
	}
	stage := -1
	if st.Step > 0 {
		stage, _, _ = stageAt(lengths, st.Step)
		if stage != st.Stage {
			return fmt.Errorf("train: %s is at step %d of stage %d, the schedule puts it in stage %d", ckpt, st.Step, st.Stage, stage)
		}
	}
	// The optimizers belong to the checkpoint's stage; a step that starts
	// a new stage makes fresh ones.
	t.opts = map[Group]*graph.AdamW{}
	t.optFor = -1
	if stage >= 0 {
		lr := t.lrs(stage)
		for g := range lr {
			o := graph.NewAdamW(lr[g], t.cfg.Recipe.WeightDecay)
			mom := map[*tensor.Tensor][2][]float32{}
			for w, name := range t.names {
				if t.groups[w] != g {
					continue
				}
				mName, vName := string(g)+".m."+name, string(g)+".v."+name
				_, hasM := src.Info(mName)
				_, hasV := src.Info(vName)
				if !hasM && !hasV {
					continue // never updated (no moments were saved)
				}
				m, err := src.Float32(mName)
				if err != nil {
					return fmt.Errorf("train: %s: %s: %w", ckpt, OptimizerFile, err)
				}
				v, err := src.Float32(vName)
				if err != nil {
					return fmt.Errorf("train: %s: %s: %w", ckpt, OptimizerFile, err)
				}
				mom[w] = [2][]float32{m.Data, v.Data}
			}
			if err := o.Restore(st.OptSteps[g], mom); err != nil {
				return fmt.Errorf("train: %s: %s: %w", ckpt, OptimizerFile, err)
			}
			t.opts[g] = o
		}
		t.optFor = stage
	}
	t.st = st
	return nil
}

func renameFile(from, to string) error { return os.Rename(from, to) }
