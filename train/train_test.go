package train

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/traintest"
)

// fixture is a trainable tiny folder with the test data.
type fixture struct {
	dir  string
	data *Dataset
	eval *Dataset
}

func newFixture(t *testing.T, golden string) *fixture {
	t.Helper()
	f := &fixture{dir: traintest.Folder(t, golden)}
	var err error
	f.data, err = LoadDataset(filepath.Join(traintest.DataDir(), "data.jsonl"), DataOptions{})
	require.NoError(t, err)
	f.eval, err = LoadDataset(filepath.Join(traintest.DataDir(), "eval.json"), DataOptions{})
	require.NoError(t, err)
	return f
}

func (f *fixture) config(t *testing.T, recipe string, steps int) Config {
	t.Helper()
	r, err := Builtin(recipe)
	require.NoError(t, err)
	return Config{Recipe: r, Steps: steps, Batch: 2, Accum: 2, Seed: 7}
}

// run trains from modelDir (or resumes from ckpt when not empty) into out
// and returns the step losses it printed.
func (f *fixture) run(t *testing.T, modelDir string, cfg Config, out string, stopAfter int, ckpt string) ([]float64, *Summary) {
	t.Helper()
	ctx := context.Background()
	if ckpt != "" {
		modelDir = ckpt
		var err error
		cfg, err = SavedConfig(ckpt)
		require.NoError(t, err)
	}
	m, err := fovea.Load(ctx, modelDir, fovea.ForTraining())
	require.NoError(t, err)
	tr, err := New(m, f.data, f.eval, cfg, out)
	require.NoError(t, err)
	if ckpt != "" {
		require.NoError(t, tr.Restore(ckpt))
	}
	var losses []float64
	tr.OnStep = func(s StepInfo) {
		require.False(t, math.IsNaN(s.Loss))
		losses = append(losses, s.Loss)
	}
	sum, err := tr.Run(ctx, stopAfter)
	require.NoError(t, err)
	return losses, sum
}

// TestLLaVATrainsAndResumes: the two-stage recipe on llava_tiny; two
// runs with one seed agree bit for bit; stopping after a stage-1 step and
// after a stage-2 step and resuming gives the uninterrupted losses, loss
// for loss.
func TestLLaVATrainsAndResumes(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	cfg := f.config(t, RecipeLLaVA, 6) // stage 1: steps 1-3, stage 2: steps 4-6
	full, sum := f.run(t, f.dir, cfg, t.TempDir(), 0, "")
	t.Logf("losses %v\n%s", full, sum)
	require.Len(t, full, 6)
	require.Equal(t, []string{"projector", "full"}, sum.Stages)
	again, _ := f.run(t, f.dir, cfg, t.TempDir(), 0, "")
	require.Equal(t, full, again, "two runs with one seed")

	for _, stop := range []int{2, 3, 5} { // inside stage 1, at its end, inside stage 2
		out := t.TempDir()
		first, s1 := f.run(t, f.dir, cfg, out, stop, "")
		require.True(t, s1.Stopped)
		require.Len(t, first, stop)
		ckpt, err := LatestCheckpoint(out)
		require.NoError(t, err)
		rest, s2 := f.run(t, "", cfg, out, 0, ckpt)
		require.False(t, s2.Stopped)
		require.Equal(t, full, append(first, rest...), "stopped after %d and resumed", stop)
		// The output folder is an HF folder that Load reads.
		_, err = fovea.Load(context.Background(), out)
		require.NoError(t, err)
	}
}

// weightsOf loads a folder's weights by name (bits).
func weightsOf(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	m, err := fovea.Load(context.Background(), dir, fovea.ForTraining(), fovea.WithoutTokenizer())
	require.NoError(t, err)
	out := map[string][]float32{}
	for _, w := range m.Parts().Weights {
		out[w.Name] = w.Tensor.Data
	}
	return out
}

// requireFrozen checks that every tensor outside the trained groups is
// bit-identical and that each trained group changed. (A trained tensor
// may stay put when the forward pass never reads it, e.g. CLIP layers
// past vision_feature_layer.)
func requireFrozen(t *testing.T, before, after map[string][]float32, group func(name string) Group, trains []Group) {
	t.Helper()
	require.Equal(t, len(before), len(after))
	changed := map[Group]int{}
	same := 0
	for name, b := range before {
		a := after[name]
		identical := true
		for i := range b {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				identical = false
				break
			}
		}
		g := group(name)
		if !slices.Contains(trains, g) {
			require.True(t, identical, "%s is frozen but changed", name)
			same++
		} else if !identical {
			changed[g]++
		}
	}
	for _, g := range trains {
		require.Positive(t, changed[g], "no tensor of group %s changed", g)
	}
	t.Logf("tensors changed per group %v, %d frozen and bit-identical", changed, same)
}

// TestStagesFreeze: after a stage only the tensors of its groups
// changed and every other tensor is bit-identical: the projector stage
// (LLaVA; Mllama, where the cross-attention layers train too and the
// text-only decoder is kept bit for bit), pretrain-vision (both) and
// pretrain-text (LLaVA).
func TestStagesFreeze(t *testing.T) {
	for _, c := range []struct {
		golden, recipe string
		trains         []Group
	}{
		{"llava_tiny", RecipeProjector, []Group{Projector}},
		{"mllama_tiny", RecipeProjector, []Group{Projector, CrossAttn}},
		{"llava_tiny", RecipePretrainVision, []Group{Vision, Projector}},
		{"mllama_tiny", RecipePretrainVision, []Group{Vision, Projector, CrossAttn}},
		{"llava_tiny", RecipePretrainText, []Group{Decoder}},
	} {
		t.Run(c.golden+"/"+c.recipe, func(t *testing.T) {
			f := newFixture(t, c.golden)
			out := t.TempDir()
			losses, sum := f.run(t, f.dir, f.config(t, c.recipe, 3), out, 0, "")
			t.Logf("losses %v\n%s", losses, sum)
			var a arch = &llavaArch{}
			if c.golden == "mllama_tiny" {
				a = &mllamaArch{cross: map[int]bool{1: true, 3: true}} // mllama_tiny's cross_attention_layers
			}
			for _, g := range c.trains {
				require.Positive(t, sum.Trained[g], g)
			}
			requireFrozen(t, weightsOf(t, f.dir), weightsOf(t, out), a.group, c.trains)
		})
	}
}

func nan() float64 { return math.NaN() }

// TestCheckpointsKeepLastAndBest: with a checkpoint every step, the last
// KeepLast complete checkpoints and the best one remain, each a loadable
// HF folder with the trainer state; cancelling the context stops after
// the current step with a checkpoint.
func TestCheckpointsKeepLastAndBest(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	cfg := f.config(t, RecipeProjector, 6)
	cfg.SaveEvery, cfg.KeepLast = 1, 2
	out := t.TempDir()
	_, _ = f.run(t, f.dir, cfg, out, 0, "")
	dirs, err := Checkpoints(out)
	require.NoError(t, err)
	require.LessOrEqual(t, len(dirs), 3)
	require.GreaterOrEqual(t, len(dirs), 2)
	require.Equal(t, "step-000006", filepath.Base(dirs[len(dirs)-1]))
	require.Equal(t, "step-000005", filepath.Base(dirs[len(dirs)-2]))
	var st runState
	raw, err := os.ReadFile(filepath.Join(dirs[len(dirs)-1], StateFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &st))
	require.Len(t, st.Log, 6)
	best := filepath.Join(out, CheckpointsDir, st.BestDir)
	require.Contains(t, dirs, best, "the best checkpoint is kept")
	for _, d := range dirs {
		_, err := fovea.Load(context.Background(), d)
		require.NoError(t, err)
		_, err = os.Stat(filepath.Join(d, OptimizerFile))
		require.NoError(t, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	m, err := fovea.Load(ctx, f.dir, fovea.ForTraining())
	require.NoError(t, err)
	out2 := t.TempDir()
	tr, err := New(m, f.data, nil, f.config(t, RecipeProjector, 6), out2)
	require.NoError(t, err)
	tr.OnStep = func(s StepInfo) {
		if s.Step == 2 {
			cancel()
		}
	}
	sum, err := tr.Run(ctx, 0)
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, sum.Stopped)
	last, err := LatestCheckpoint(out2)
	require.NoError(t, err)
	require.Equal(t, "step-000002", filepath.Base(last))
}

// cancelAfter is a context whose Err reports cancellation from its n-th
// call on, whichever call that is (inside a step or between steps).
type cancelAfter struct {
	context.Context
	n *atomic.Int32
}

func (c cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestCancelMidStep: a cancellation that arrives while a step runs still
// lets the step finish and leaves a checkpoint of it; the data position
// saved is that of the steps trained.
func TestCancelMidStep(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	m, err := fovea.Load(context.Background(), f.dir, fovea.ForTraining())
	require.NoError(t, err)
	out := t.TempDir()
	tr, err := New(m, f.data, nil, f.config(t, RecipeProjector, 6), out)
	require.NoError(t, err)
	n := &atomic.Int32{}
	n.Store(2) // the check before step 1, then one inside it or before step 2
	sum, err := tr.Run(cancelAfter{context.Background(), n}, 0)
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, sum.Stopped)
	require.Positive(t, sum.Steps)
	last, err := LatestCheckpoint(out)
	require.NoError(t, err)
	var st runState
	raw, err := os.ReadFile(filepath.Join(last, StateFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &st))
	require.Equal(t, sum.Steps, st.Step)
	require.Len(t, st.Log, st.Step)
	// The same steps run without a cancellation stand at the same data position.
	m2, err := fovea.Load(context.Background(), f.dir, fovea.ForTraining())
	require.NoError(t, err)
	tr2, err := New(m2, f.data, nil, f.config(t, RecipeProjector, 6), t.TempDir())
	require.NoError(t, err)
	_, err = tr2.Run(context.Background(), sum.Steps)
	require.NoError(t, err)
	require.Equal(t, [2]int{tr2.st.Epoch, tr2.st.Batch}, [2]int{st.Epoch, st.Batch})
}

// TestNothingPerStep: over three epochs, each image is encoded once, a
// graph is compiled once per bucket and reused (fewer compilations than
// micro-batches), and every graph applies the LM head to fewer rows than
// the batch has positions.
func TestNothingPerStep(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	m, err := fovea.Load(context.Background(), f.dir, fovea.ForTraining())
	require.NoError(t, err)
	cfg := f.config(t, RecipeProjector, 6) // 8 rows, batch 2 × accum 2: 2 steps per epoch
	tr, err := New(m, f.data, nil, cfg, t.TempDir())
	require.NoError(t, err)
	_, err = tr.Run(context.Background(), 0)
	require.NoError(t, err)
	a := tr.arch.(*llavaArch)
	require.Equal(t, 3, a.computed, "three distinct images, each encoded once")
	micro := 6 * cfg.Accum
	require.Equal(t, len(tr.graphs), tr.builds, "no bucket compiled twice")
	require.Less(t, tr.builds, micro)
	for k := range tr.graphs {
		require.Less(t, k.rows, cfg.Batch*k.tokens, "LM head on target rows only: %+v", k)
	}
	t.Logf("%d micro-batches, %d graphs compiled: %v", micro, tr.builds, keys(tr.graphs))
}

func keys(m map[bucket]*stepGraph) []bucket {
	var out []bucket
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestResumeRefusesOtherData: resuming with another data file (or another
// configuration) is an error, not a silently different run.
func TestResumeRefusesOtherData(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	cfg := f.config(t, RecipeProjector, 4)
	out := t.TempDir()
	_, _ = f.run(t, f.dir, cfg, out, 2, "")
	ckpt, err := LatestCheckpoint(out)
	require.NoError(t, err)
	m, err := fovea.Load(context.Background(), ckpt, fovea.ForTraining())
	require.NoError(t, err)
	tr, err := New(m, f.eval, nil, cfg, out) // the eval file as training data
	require.NoError(t, err)
	require.ErrorContains(t, tr.Restore(ckpt), "trained on other data")
	cfg.Seed++
	tr, err = New(m, f.data, nil, cfg, out)
	require.NoError(t, err)
	require.ErrorContains(t, tr.Restore(ckpt), "another configuration")
}
