package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
)

// TestSchedule: 3 % linear warmup, then cosine from the peak to 10 %.
func TestSchedule(t *testing.T) {
	const n = 100 // warmup = ceil(3) = 3 steps
	require.InDelta(t, 1.0/3, lrMultiplier(1, n, DefaultWarmupRatio, DefaultMinLRRatio), 1e-12)
	require.InDelta(t, 1.0, lrMultiplier(3, n, DefaultWarmupRatio, DefaultMinLRRatio), 1e-12)
	require.InDelta(t, 1.0, lrMultiplier(4, n, DefaultWarmupRatio, DefaultMinLRRatio), 1e-12)
	require.InDelta(t, 0.1, lrMultiplier(n, n, DefaultWarmupRatio, DefaultMinLRRatio), 1e-12)
	mid := 4 + (n-4)/2 // half-way through the cosine
	require.InDelta(t, 0.1+0.9*0.5*(1+math.Cos(math.Pi*float64(mid-4)/float64(n-4))), lrMultiplier(mid, n, DefaultWarmupRatio, DefaultMinLRRatio), 1e-12)
	prev := 2.0
	for k := 3; k <= n; k++ {
		m := lrMultiplier(k, n, DefaultWarmupRatio, DefaultMinLRRatio)
		require.LessOrEqual(t, m, prev, "non-increasing after warmup (step %d)", k)
		prev = m
	}
	require.Equal(t, 1.0, lrMultiplier(1, 1, DefaultWarmupRatio, DefaultMinLRRatio))
}

func TestStageLengths(t *testing.T) {
	r, err := Builtin(RecipeLLaVA)
	require.NoError(t, err)
	l, err := stageLengths(&r, 7, 0) // one epoch each
	require.NoError(t, err)
	require.Equal(t, []int{7, 7}, l)
	l, err = stageLengths(&r, 7, 9) // a total split in proportion
	require.NoError(t, err)
	require.Equal(t, []int{5, 4}, l)
	_, err = stageLengths(&r, 7, 1)
	require.ErrorContains(t, err, "1 steps for 2 stages")
}

func TestRecipes(t *testing.T) {
	for _, name := range BuiltinRecipes() {
		r, err := Builtin(name)
		require.NoError(t, err)
		require.NoError(t, r.Validate(), name)
	}
	p, err := Builtin(RecipeProjector)
	require.NoError(t, err)
	require.Equal(t, map[Group]float64{Projector: 1e-3}, p.Stages[0].LR)
	require.Equal(t, 0.0, p.WeightDecay)
	require.Equal(t, 1.0, p.ClipNorm)
	f, err := Builtin(RecipeFull)
	require.NoError(t, err)
	require.Equal(t, map[Group]float64{Projector: 2e-5, Decoder: 2e-5}, f.Stages[0].LR)
	_, err = Builtin("nope")
	require.ErrorContains(t, err, `unknown recipe "nope"`)

	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "r.json")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	r, err := LoadRecipe(write(`{"name": "mine", "stages": [{"name": "a", "lr": {"projector": 0.01}, "steps": 5}]}`))
	require.NoError(t, err)
	require.Equal(t, DefaultWarmupRatio, r.WarmupRatio)
	require.Equal(t, 5, r.Stages[0].Steps)
	_, err = LoadRecipe(write(`{"stages": [{"name": "a", "lr": {"eyes": 0.01}, "steps": 5}]}`))
	require.ErrorContains(t, err, `unknown group "eyes"`)
	_, err = LoadRecipe(write(`{"stages": [{"name": "a", "lr": {"decoder": -1}, "steps": 5}]}`))
	require.ErrorContains(t, err, "must be positive")
	_, err = LoadRecipe(write(`{"stages": [{"name": "a", "lr": {"decoder": 1e-4}}]}`))
	require.ErrorContains(t, err, "positive length")
	_, err = LoadRecipe(write(`{"stages": [], "typo": 1}`))
	require.ErrorContains(t, err, "unknown field")
	_, err = LoadRecipe(write(`{"stages": []}`))
	require.ErrorContains(t, err, "no stages")
}

// TestUntrainableModelsRefused: a model whose weights were released for
// inference, or one without a tokenizer, is refused before the run.
func TestUntrainableModelsRefused(t *testing.T) {
	f := newFixture(t, "mllama_tiny")
	packed, err := fovea.Load(context.Background(), f.dir)
	require.NoError(t, err)
	_, err = New(packed, f.data, nil, f.config(t, RecipeProjector, 2), t.TempDir())
	require.ErrorContains(t, err, "fovea.ForTraining()")
	noTok, err := fovea.Load(context.Background(), f.dir, fovea.ForTraining(), fovea.WithoutTokenizer())
	require.NoError(t, err)
	_, err = New(noTok, f.data, nil, f.config(t, RecipeProjector, 2), t.TempDir())
	require.ErrorContains(t, err, "no tokenizer")
}
