package decoder

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/stretchr/testify/require"
)

// cacheTol bounds cached decoding against a full recompute.
const cacheTol = 1e-5

func fullSequence(t *testing.T) []int {
	g := loadGoldenIDs(t)
	return append(append([]int(nil), g.PromptIDs...), g.GeneratedIDs...)
}

// TestKVCacheMatchesRecompute feeds the full golden sequence in chunks
// (a prompt, then a chunk of 3, then single tokens) through one State and
// compares every position's logits with one uncached forward of the whole
// sequence.
func TestKVCacheMatchesRecompute(t *testing.T) {
	m, cfg := loadTiny(t)
	seq := fullSequence(t)
	var b backend.Eager
	x, err := m.Embed(b, [][]int{seq})
	require.NoError(t, err)
	full, err := m.Forward(b, x, m.NewState(1))
	require.NoError(t, err)
	ft := backend.T(full) // [1, N, V]
	v := cfg.VocabSize

	st := m.NewState(1)
	chunks := []int{10, 3}
	for len(chunks) == 0 || sum(chunks) < len(seq) {
		chunks = append(chunks, 1)
	}
	var maxD float64
	p := 0
	for _, n := range chunks {
		xc, err := m.Embed(b, [][]int{seq[p : p+n]})
		require.NoError(t, err)
		lc, err := m.Forward(b, xc, st)
		require.NoError(t, err)
		lt := backend.T(lc)
		require.Equal(t, []int{1, n, v}, lt.Shape)
		for i := 0; i < n*v; i++ {
			maxD = math.Max(maxD, math.Abs(float64(lt.Data[i]-ft.Data[p*v+i])))
		}
		p += n
		require.Equal(t, p, st.Pos())
	}
	t.Logf("cached vs recompute logits max|Δ| = %.3g over %d positions", maxD, p)
	require.LessOrEqual(t, maxD, cacheTol)
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestBatchMatchesSingle runs two equal-length sequences as one batch and
// each on its own.
func TestBatchMatchesSingle(t *testing.T) {
	m, _ := loadTiny(t)
	seq := fullSequence(t)
	a, c := seq[:8], seq[8:16]
	var b backend.Eager
	xb, err := m.Embed(b, [][]int{a, c})
	require.NoError(t, err)
	lb, err := m.Forward(b, xb, m.NewState(2))
	require.NoError(t, err)
	for i, s := range [][]int{a, c} {
		x, err := m.Embed(b, [][]int{s})
		require.NoError(t, err)
		l, err := m.Forward(b, x, m.NewState(1))
		require.NoError(t, err)
		row := backend.T(lb).Row(i)
		d := maxAbsDiff(t, row.Reshape(backend.T(l).Shape...), l)
		require.LessOrEqual(t, d, cacheTol, "sequence %d", i)
	}
	_, err = m.Embed(b, [][]int{a, c[:3]})
	require.ErrorContains(t, err, "equal lengths")
}

// TestLlama3RopeFrequencies compares the llama3-scaled inverse frequencies
// with HF's _compute_llama3_parameters evaluated here in float64.
func TestLlama3RopeFrequencies(t *testing.T) {
	cfg := config.LlamaTiny()
	cfg.HeadDimension = 128
	cfg.NumAttentionHeads = 4
	cfg.RopeTheta = 500000
	cfg.MaxPositionEmbeddings = 1 << 17
	const factor, low, high, orig = 8.0, 1.0, 4.0, 8192
	cfg.RopeScaling = &config.RopeScaling{RopeType: config.RopeLlama3, Factor: factor,
		LowFreqFactor: low, HighFreqFactor: high, OriginalMaxPositionEmbeddings: orig}
	r, err := NewRoPE(&cfg)
	require.NoError(t, err)
	dim := cfg.HeadDim()
	require.Len(t, r.InvFreq, dim/2)
	lowWavelen, highWavelen := orig/low, orig/high
	var sawLow, sawHigh, sawMid bool
	for i, got := range r.InvFreq {
		f := 1 / math.Pow(cfg.RopeTheta, float64(2*i)/float64(dim))
		wavelen := 2 * math.Pi / f
		var want float64
		switch {
		case wavelen < highWavelen: // high frequency: unchanged
			want, sawHigh = f, true
		case wavelen > lowWavelen: // low frequency: divided by factor
			want, sawLow = f/factor, true
		default: // smooth interpolation between the two
			smooth := (orig/wavelen - low) / (high - low)
			want, sawMid = (1-smooth)*f/factor+smooth*f, true
		}
		require.InEpsilon(t, want, float64(got), 1e-5, "inv_freq[%d]", i)
	}
	require.True(t, sawLow && sawHigh && sawMid, "test must cover all three bands")

	plain := config.LlamaTiny()
	rp, err := NewRoPE(&plain)
	require.NoError(t, err)
	for i, got := range rp.InvFreq {
		want := 1 / math.Pow(plain.RopeTheta, float64(2*i)/float64(plain.HeadDim()))
		require.InEpsilon(t, want, float64(got), 1e-6)
	}
}

// TestContextLimit: a prompt past max_position_embeddings is an error, and
// a cache that fills the context refuses the next token.
func TestContextLimit(t *testing.T) {
	m, cfg := loadTiny(t)
	var b backend.Eager
	long := make([]int, cfg.MaxPositionEmbeddings+1)
	x, err := m.Embed(b, [][]int{long})
	require.NoError(t, err)
	st := m.NewState(1)
	_, err = m.Forward(b, x, st)
	require.ErrorContains(t, err, "max_position_embeddings")
	require.Equal(t, 0, st.Pos(), "a failed forward leaves the state alone")

	for _, err := range m.Generate(context.Background(), b, m.NewState(1), x, GenerateOptions{MaxNewTokens: 2}) {
		require.ErrorContains(t, err, "max_position_embeddings")
	}

	// A prompt 2 short of the context: generation stops quietly after 2
	// tokens, the sequence then filling the context exactly.
	x, err = m.Embed(b, [][]int{long[:cfg.MaxPositionEmbeddings-2]})
	require.NoError(t, err)
	got, err := m.Greedy(context.Background(), b, m.NewState(1), x, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)

	x1, err := m.Embed(b, [][]int{{1}})
	require.NoError(t, err)
	_, err = m.Forward(b, x1, m.NewState(2))
	require.ErrorContains(t, err, "batch")
}

// TestGenerateCancel: a cancelled context ends generation with ctx.Err().
func TestGenerateCancel(t *testing.T) {
	m, _ := loadTiny(t)
	g := loadGoldenIDs(t)
	var b backend.Eager
	x, err := m.Embed(b, [][]int{g.PromptIDs})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var toks []int
	var last error
	for tok, err := range m.Generate(ctx, b, m.NewState(1), x, GenerateOptions{MaxNewTokens: 50}) {
		if err != nil {
			last = err
			break
		}
		toks = append(toks, tok)
		if len(toks) == 3 {
			cancel()
		}
	}
	require.ErrorIs(t, last, context.Canceled)
	require.Equal(t, g.GeneratedIDs[:3], toks)

	// Already cancelled: no token at all.
	n := 0
	for _, err := range m.Generate(ctx, b, m.NewState(1), x, GenerateOptions{MaxNewTokens: 5}) {
		require.ErrorIs(t, err, context.Canceled)
		n++
	}
	require.Equal(t, 1, n)
}

// TestGenerateStopToken: the stop token is yielded, then generation ends.
func TestGenerateStopToken(t *testing.T) {
	m, _ := loadTiny(t)
	g := loadGoldenIDs(t)
	var b backend.Eager
	x, err := m.Embed(b, [][]int{g.PromptIDs})
	require.NoError(t, err)
	// Golden greedy: 54 164 54 164 271 ...; stop at the first 271.
	got, err := m.Greedy(context.Background(), b, m.NewState(1), x, 8, 271)
	require.NoError(t, err)
	require.Equal(t, g.GeneratedIDs[:5], got)
}

// TestSampledSeedReproducible: one seed, one stream; sampling differs from
// greedy somewhere for a high temperature; every token is in the vocabulary.
func TestSampledSeedReproducible(t *testing.T) {
	m, cfg := loadTiny(t)
	g := loadGoldenIDs(t)
	var b backend.Eager
	x, err := m.Embed(b, [][]int{g.PromptIDs})
	require.NoError(t, err)
	run := func(seed uint64) []int {
		opts := GenerateOptions{MaxNewTokens: 16, Temperature: 1.5, TopK: 50, TopP: 0.95, MinP: 0.01,
			RepetitionPenalty: 1.1, Seed: seed, PromptIDs: g.PromptIDs}
		var out []int
		for tok, err := range m.Generate(context.Background(), b, m.NewState(1), x, opts) {
			require.NoError(t, err)
			require.True(t, tok >= 0 && tok < cfg.VocabSize)
			out = append(out, tok)
		}
		require.Len(t, out, 16)
		return out
	}
	a1, a2, c := run(7), run(7), run(8)
	require.Equal(t, a1, a2)
	require.NotEqual(t, a1, c)
}

func TestGenerateOptionsValidate(t *testing.T) {
	good := GenerateOptions{MaxNewTokens: 1}
	require.NoError(t, good.Validate())
	for name, o := range map[string]GenerateOptions{
		"MaxNewTokens":      {},
		"Temperature":       {MaxNewTokens: 1, Temperature: -1},
		"TopK":              {MaxNewTokens: 1, TopK: -1},
		"TopP":              {MaxNewTokens: 1, TopP: 1.5},
		"MinP":              {MaxNewTokens: 1, MinP: float32(math.NaN())},
		"RepetitionPenalty": {MaxNewTokens: 1, RepetitionPenalty: -2},
		"stop token":        {MaxNewTokens: 1, StopTokens: []int{-1}},
	} {
		require.ErrorContains(t, o.Validate(), name)
	}
}

// entriesFrom copies every tensor of f into writer entries, skipping
// drop and replacing the tensor named by swap.
func entriesFrom(t *testing.T, f *safetensors.File, drop string, swap map[string]*tensor.Tensor) []safetensors.Entry {
	var out []safetensors.Entry
	for _, n := range f.Names() {
		if n == drop {
			continue
		}
		w, ok := swap[n]
		if !ok {
			var err error
			w, err = f.Float32(n)
			require.NoError(t, err)
		}
		out = append(out, safetensors.Float32Entry(n, w))
	}
	return out
}

// TestLoadErrorsNameTensor: a missing and a mis-shaped tensor are both
// reported, each by name.
func TestLoadErrorsNameTensor(t *testing.T) {
	src, err := safetensors.Open(filepath.Join(llamaTinyDir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	path := filepath.Join(t.TempDir(), "broken.safetensors")
	const missing = "model.layers.2.mlp.up_proj.weight"
	const bad = "model.layers.1.self_attn.k_proj.weight"
	entries := entriesFrom(t, src, missing, map[string]*tensor.Tensor{bad: tensor.New(16, 64)})
	require.NoError(t, safetensors.WriteEntries(path, entries, nil))
	broken, err := safetensors.Open(path)
	require.NoError(t, err)
	defer broken.Close()

	mc, err := config.Load(llamaTinyDir)
	require.NoError(t, err)
	m, err := New(mc.Llama)
	require.NoError(t, err)
	err = m.Load(broken, "model.")
	var be *weights.BindError
	require.True(t, errors.As(err, &be), "want a *weights.BindError, got %v", err)
	require.Equal(t, []string{missing}, be.Missing)
	require.Len(t, be.Mismatched, 1)
	require.Contains(t, be.Mismatched[0], bad)
	require.ErrorContains(t, err, missing)
}

// TestTiedEmbeddings: with tie_word_embeddings and no lm_head tensor, the
// head is the embedding table, and logits equal those of the untied model
// whose lm_head was replaced by a copy of the embeddings.
func TestTiedEmbeddings(t *testing.T) {
	src, err := safetensors.Open(filepath.Join(llamaTinyDir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	path := filepath.Join(t.TempDir(), "tied.safetensors")
	require.NoError(t, safetensors.WriteEntries(path, entriesFrom(t, src, "lm_head.weight", nil), nil))
	tiedSrc, err := safetensors.Open(path)
	require.NoError(t, err)
	defer tiedSrc.Close()

	mc, err := config.Load(llamaTinyDir)
	require.NoError(t, err)
	cfg := *mc.Llama
	cfg.TieWordEmbeddings = true
	tied, err := New(&cfg)
	require.NoError(t, err)
	require.NoError(t, tied.Load(tiedSrc, "model."))
	require.Same(t, tied.EmbedTokens, tied.LMHead)

	ref, _ := loadTiny(t)
	copy(ref.LMHead.Data, ref.EmbedTokens.Data)
	var b backend.Eager
	ids := loadGoldenIDs(t).PromptIDs
	x, err := ref.Embed(b, [][]int{ids})
	require.NoError(t, err)
	lr, err := ref.Forward(b, x, ref.NewState(1))
	require.NoError(t, err)
	lt, err := tied.Forward(b, x, tied.NewState(1))
	require.NoError(t, err)
	require.Equal(t, backend.T(lr).Data, backend.T(lt).Data)
}

// TestOptionsFromGeneration: llama_tiny's generation_config (HF defaults:
// max_length 20, greedy, eos 2: the default max_length is not a setting),
// an explicit max_length that counts the prompt, and a sampling config.
func TestOptionsFromGeneration(t *testing.T) {
	gen, err := config.LoadGeneration(llamaTinyDir)
	require.NoError(t, err)
	require.NotNil(t, gen)
	o := OptionsFromGeneration(gen, 12)
	require.Equal(t, DefaultMaxNewTokens, o.MaxNewTokens)
	require.Equal(t, []int{2}, o.StopTokens)
	require.Zero(t, o.Temperature)
	require.NoError(t, o.Validate())

	long := *gen
	long.MaxLength = 50
	require.Equal(t, 38, OptionsFromGeneration(&long, 12).MaxNewTokens)
	require.Equal(t, DefaultMaxNewTokens, OptionsFromGeneration(&long, 60).MaxNewTokens,
		"a prompt past max_length falls back to the default, not to a negative length")

	n := 5
	s := &config.GenerationConfig{DoSample: true, Temperature: 0.6, TopK: 40, TopP: 0.9,
		RepetitionPenalty: 1.2, MaxNewTokens: &n, EOSTokenID: config.TokenIDs{7, 9}}
	o = OptionsFromGeneration(s, 100)
	require.Equal(t, GenerateOptions{MaxNewTokens: 5, Temperature: 0.6, TopK: 40, TopP: 0.9,
		RepetitionPenalty: 1.2, StopTokens: []int{7, 9}}, o)
}

// TestLoadBiasMismatch: attention_bias true against a checkpoint without
// biases names the missing bias tensors.
func TestLoadBiasMismatch(t *testing.T) {
	mc, err := config.Load(llamaTinyDir)
	require.NoError(t, err)
	cfg := *mc.Llama
	cfg.AttentionBias = true
	m, err := New(&cfg)
	require.NoError(t, err)
	src, err := safetensors.Open(filepath.Join(llamaTinyDir, "model.safetensors"))
	require.NoError(t, err)
	defer src.Close()
	err = m.Load(src, "model.")
	require.ErrorContains(t, err, "missing tensor model.layers.0.self_attn.q_proj.bias")
	require.ErrorContains(t, err, "model.layers.3.self_attn.o_proj.bias")
}
