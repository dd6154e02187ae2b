package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/tokenizer"
	"github.com/fovea-ml/fovea/train"
)

// Training budgets of a default run, in optimizer steps (steps, not
// seconds, so a seed gives one result on any machine).
const (
	defaultTextSteps   = 600
	defaultVisionSteps = 2500
	defaultStage1Steps = 300
	defaultStage2Steps = 12000
	defaultBatch       = 32

	textLR   = 3e-3
	stage1LR = 2e-3
	stage2LR = 1e-3
	crossLR  = 3e-3 // measured better than 1e-3 for the cross stage (0.726 against 0.655)
)

// Attribute labels of one image column for vision pretraining: present,
// kind, colour.
var attributeClasses = []int{2, 3, 4}

// budgets are the steps of each stage.
type budgets struct {
	text, vision, stage1, stage2, batch int
	// fusionLR is the peak learning rate of stage 2 and of the cross
	// stage (0: the default).
	fusionLR float64
}

func (b budgets) fusionRate(def float64) float64 {
	if b.fusionLR > 0 {
		return b.fusionLR
	}
	return def
}

// stageTimer prints one line per stage with its wall time.
type stageTimer struct {
	log   io.Writer
	start time.Time
	total time.Time
}

func (s *stageTimer) done(format string, args ...any) {
	fmt.Fprintf(s.log, "%s (%.1fs, total %.1fs)\n", fmt.Sprintf(format, args...),
		time.Since(s.start).Seconds(), time.Since(s.total).Seconds())
	s.start = time.Now()
}

// trainModel runs the recipe of the fusion style after prepare: text
// pretraining, vision pretraining, then for unified (LLaVA) stage 1
// (projector) and stage 2 (projector + LLM), for cross (Mllama) one
// stage of the cross-attention layers and the projector with the LLM
// frozen; then the held-out evaluation. The folder f.out is the model.
func trainModel(ctx context.Context, log io.Writer, f flags, trainJSONL, heldJSONL string) error {
	st := &stageTimer{log: log, start: time.Now(), total: time.Now()}
	tok, err := loadTokenizer(f.out)
	if err != nil {
		return err
	}
	writeConfig, fusion := writeLlavaConfig, unifiedRecipe(f.budget)
	if f.fusion == fusionCross {
		writeConfig = func(dir string, tok *tokenizer.Tokenizer) error { return writeMllamaConfig(dir, tok, f.cross) }
		fusion = crossRecipe(f.budget, f.cross.steps)
	}
	if err := writeConfig(f.out, tok); err != nil {
		return err
	}
	m, err := fovea.NewFromConfig(ctx, f.out, f.seed)
	if err != nil {
		return err
	}
	work := filepath.Join(f.out, "runs")

	// 1. Text pretraining: every training question and answer, no image.
	textPath, err := writeTextRows(trainJSONL, filepath.Join(f.out, dataDir, "text.jsonl"), textExtraOf(f))
	if err != nil {
		return err
	}
	textData, err := train.LoadDataset(textPath, train.DataOptions{})
	if err != nil {
		return err
	}
	s, err := runRecipe(ctx, m, textData, train.Recipe{Name: "pretrain-text", Stages: []train.Stage{
		{Name: "text", LR: map[train.Group]float64{train.Decoder: textLR}, Steps: f.budget.text}}},
		f.budget.batch, f.seed, filepath.Join(work, "text"), f.cross, log)
	if err != nil {
		return err
	}
	st.done("text pretraining: %d steps, loss %.3f → %.3f", s.Steps, s.FirstLoss, s.FinalLoss)
	if err := saveTextLLM(m, f.out, filepath.Join(f.out, textLLMDir)); err != nil { // for examples/compare
		return err
	}

	// 2. Vision pretraining: the tower with a supervised attribute head per column.
	trainEx, err := attributeExamples(f.seed, shapes.Train, f.trainImages)
	if err != nil {
		return err
	}
	heldEx, err := attributeExamples(f.seed, shapes.HeldOut, f.heldOutImages)
	if err != nil {
		return err
	}
	head, vs, err := train.PretrainVision(ctx, m, trainEx, train.AttributeConfig{
		Task:  train.AttributeTask{Classes: attributeClasses, TokenGroup: columnGroups(), TokenLoss: true, GroupLoss: true},
		Steps: f.budget.vision, Batch: min(defaultBatch, len(trainEx)), Seed: f.seed})
	if err != nil {
		return err
	}
	acc, err := head.Accuracy(ctx, m, heldEx)
	if err != nil {
		return err
	}
	st.done("vision pretraining: %d steps, loss %.3f → %.3f; held-out present %.3f kind %.3f colour %.3f, images all right %.3f",
		vs.Steps, vs.FirstLoss, vs.FinalLoss, acc.PerAttribute[0], acc.PerAttribute[1], acc.PerAttribute[2], acc.Image)

	// 3. The fusion stages on the image rows.
	data, err := train.LoadDataset(trainJSONL, train.DataOptions{})
	if err != nil {
		return err
	}
	s, err = runRecipe(ctx, m, data, fusion, f.budget.batch, f.seed, filepath.Join(work, "fusion"), f.cross, log)
	if err != nil {
		return err
	}
	st.done("%s: %d steps, loss %.3f → %.3f; trained %v", fusion.Name, s.Steps, s.FirstLoss, s.FinalLoss, s.Trained)

	if err := saveInto(ctx, m, f.out); err != nil {
		return err
	}
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	return evaluateHeldOut(ctx, log, m, heldJSONL, f.out, f.maxNew, st)
}

// textExtraOf is the extra text-pretraining rows of f: none for the
// unified style.
func textExtraOf(f flags) string {
	if f.fusion != fusionCross {
		return extraNone
	}
	return f.cross.textExtra
}

// unifiedRecipe is LLaVA's two stages: the projector alone, then the
// projector and the LLM.
func unifiedRecipe(b budgets) train.Recipe {
	return train.Recipe{Name: "stages 1+2", Stages: []train.Stage{
		{Name: "stage1", LR: map[train.Group]float64{train.Projector: stage1LR}, Steps: b.stage1},
		{Name: "stage2", LR: map[train.Group]float64{train.Projector: b.fusionRate(stage2LR), train.Decoder: b.fusionRate(stage2LR)}, Steps: b.stage2},
	}}
}

// crossRecipe is the Mllama stage: the projector and the cross-attention
// layers train, the LLM (decoder group) stays frozen. Its length is steps
// (0: the unified style's two stages together, b.stage1 + b.stage2).
func crossRecipe(b budgets, steps int) train.Recipe {
	if steps == 0 {
		steps = b.stage1 + b.stage2
	}
	return train.Recipe{Name: "cross-attention stage", Stages: []train.Stage{
		{Name: "cross", LR: map[train.Group]float64{train.Projector: b.fusionRate(crossLR), train.CrossAttn: b.fusionRate(crossLR)}, Steps: steps},
	}}
}

// runRecipe trains m on data with the recipe; checkpoints go to out. o
// gives the data parallelism and the loss log.
func runRecipe(ctx context.Context, m *fovea.Model, data *train.Dataset, r train.Recipe, batch int, seed uint64, out string, o crossOptions, log io.Writer) (*train.Summary, error) {
	r.WarmupRatio, r.MinLRRatio, r.ClipNorm = train.DefaultWarmupRatio, train.DefaultMinLRRatio, train.DefaultClipNorm
	tr, err := train.New(m, data, nil, train.Config{Recipe: r, Batch: batch, Accum: 1, Seed: seed, KeepLast: 1, Replicas: o.replicas}, out)
	if err != nil {
		return nil, err
	}
	tr.OnStep = stepLogger(log, o.logEvery)
	return tr.Run(ctx, 0)
}

// writeTextRows writes the rows of jsonl without their images (the
// questions and answers as text) to path, each followed by its extra rows
// (extraTextRows).
func writeTextRows(jsonl, path, extra string) (string, error) {
	rows, err := shapes.ReadRows(jsonl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		q, err := r.Question()
		if err != nil {
			return "", err
		}
		a, _ := r.Answer()
		if err := enc.Encode(shapes.Row{ID: r.ID, Conversations: []shapes.Turn{
			{From: train.FromHuman, Value: q}, {From: train.FromGPT, Value: a}}}); err != nil {
			return "", err
		}
		for _, x := range extraTextRows(extra, r.ID, q) {
			if err := enc.Encode(x); err != nil {
				return "", err
			}
		}
	}
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// columnGroups is the image column of each of the tower's patch tokens
// (row-major 3 × 3 grid: the patch column is the image column).
func columnGroups() []int {
	g := towerImage / towerPatch
	out := make([]int, 0, g*g)
	for y := 0; y < g; y++ {
		for x := 0; x < g; x++ {
			out = append(out, x*shapes.NumColumns/g)
		}
	}
	return out
}

// attributeExamples renders the split's first n scenes with their column
// labels (present, kind, colour; kind and colour ignored on an empty
// column) — the same scenes WriteSplit wrote.
func attributeExamples(seed uint64, split shapes.Split, n int) ([]train.AttributeExample, error) {
	scenes, err := shapes.Scenes(seed, split, n)
	if err != nil {
		return nil, err
	}
	out := make([]train.AttributeExample, 0, n)
	for _, sc := range scenes {
		labels := make([]int, 0, shapes.NumColumns*len(attributeClasses))
		var col [shapes.NumColumns]*shapes.Shape
		for i := range sc.Shapes {
			col[sc.Shapes[i].Column] = &sc.Shapes[i]
		}
		for _, s := range col {
			if s == nil {
				labels = append(labels, 0, train.IgnoreIndex, train.IgnoreIndex)
				continue
			}
			labels = append(labels, 1, int(s.Kind), int(s.Colour))
		}
		var img image.Image = shapes.Render(sc)
		out = append(out, train.AttributeExample{Image: img, Labels: labels})
	}
	return out, nil
}

// saveInto writes m's HF files into dir beside what is already there (the
// dataset): Save replaces the folder it writes, so it writes a sibling
// folder whose files are then moved in.
func saveInto(ctx context.Context, m *fovea.Model, dir string) error {
	tmp := filepath.Join(dir, ".model")
	if err := m.Save(ctx, tmp); err != nil {
		return err
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(tmp)
}
