package decoder

import (
	"context"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/backend"
)

// tinyPrefill embeds ids on the tiny model: [1, T, D].
func tinyPrefill(t *testing.T, m *Model, ids []int) Value {
	t.Helper()
	e, err := m.Embed(backend.Eager{}, [][]int{ids})
	require.NoError(t, err)
	return e
}

// Issue 14 item 4: MaxNewTokens math.MaxInt panicked in makeslice.
func TestGenerateMaxIntTokens(t *testing.T) {
	m, cfg := loadTiny(t)
	g := loadGoldenIDs(t)
	b := backend.Eager{}
	gen, err := m.NewGenerator(context.Background(), b, m.NewState(1), tinyPrefill(t, m, g.PromptIDs), GenerateOptions{MaxNewTokens: math.MaxInt})
	require.NoError(t, err)
	n := 0
	for gen.Next(context.Background()) {
		n++
	}
	require.NoError(t, gen.Err())
	require.Equal(t, FinishContextFull, gen.Finish())
	require.Equal(t, cfg.MaxPositionEmbeddings-len(g.PromptIDs), n, "generation fills the context, then stops")
}

// Issue 14 item 4: 1<<40 new tokens ran out of memory. Run in a child
// process so that today's behaviour (a fatal out-of-memory) fails the test
// instead of killing the test binary.
func TestGenerateHugeMaxNewTokens(t *testing.T) {
	if os.Getenv("FOVEA_HUGE_CHILD") == "1" {
		m, _ := loadTiny(t)
		g := loadGoldenIDs(t)
		ids, err := m.Greedy(context.Background(), backend.Eager{}, m.NewState(1), tinyPrefill(t, m, g.PromptIDs), 1<<40)
		require.NoError(t, err)
		require.Equal(t, g.GeneratedIDs, ids[:len(g.GeneratedIDs)])
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGenerateHugeMaxNewTokens$")
	cmd.Env = append(os.Environ(), "FOVEA_HUGE_CHILD=1", "GOMEMLIMIT=512MiB")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
}

// Issue 14 item 4: the KV cache was reserved up to the context at once;
// it must grow with the sequence instead.
func TestGenerateDoesNotReserveContext(t *testing.T) {
	_, cfg := loadTiny(t)
	big := *cfg
	big.MaxPositionEmbeddings = 1 << 20 // 1M positions: 1 GiB of KV cache if reserved
	m, err := New(&big)
	require.NoError(t, err)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	gen, err := m.NewGenerator(context.Background(), backend.Eager{}, m.NewState(1), tinyPrefill(t, m, []int{1, 2, 3}), GenerateOptions{MaxNewTokens: 1 << 20})
	require.NoError(t, err)
	for i := 0; i < 4 && gen.Next(context.Background()); i++ {
	}
	require.NoError(t, gen.Err())
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "bytes allocated for 3 prompt + 4 generated tokens")
}

// Issue 14 item 5: option values whose division overflows float32 are
// refused up front.
func TestGenerateRefusesUnderflowingOptions(t *testing.T) {
	for name, o := range map[string]GenerateOptions{
		"`temperature`": {MaxNewTokens: 1, Temperature: 1e-45},
		"`penalty`":     {MaxNewTokens: 1, RepetitionPenalty: 1e-45},
	} {
		require.ErrorContains(t, o.Validate(), name)
		require.ErrorContains(t, o.Validate(), "overflow")
	}
	ok := GenerateOptions{MaxNewTokens: 1, Temperature: 1e-30, RepetitionPenalty: 1e-30}
	require.NoError(t, ok.Validate())
}

// Issue 14 item 5: NaN logits gave token 0 forever; they must stop
// generation with an error.
func TestGenerateStopsOnNonFiniteLogits(t *testing.T) {
	m, _ := loadTiny(t)
	g := loadGoldenIDs(t)
	head := m.LMHead.Clone()
	head.Data[5] = float32(math.NaN()) // row 0: the logit of id 0 becomes NaN
	m.LMHead = head
	var got []int
	var gotErr error
	for id, err := range m.Generate(context.Background(), backend.Eager{}, m.NewState(1), tinyPrefill(t, m, g.PromptIDs), GenerateOptions{MaxNewTokens: 8}) {
		if err != nil {
			gotErr = err
			break
		}
		got = append(got, id)
	}
	require.ErrorContains(t, gotErr, "non-finite logit")
	require.Empty(t, got)
}

// A temperature small enough to overflow the scaled logits (but above the
// option floor for tiny logits) is reported with HF's sampling error.
func TestSamplerRefusesOverflow(t *testing.T) {
	s := NewSampler(GenerateOptions{MaxNewTokens: 1, Temperature: 1e-38})
	_, err := s.next([]float32{1e3, 2e3}, nil)
	require.ErrorContains(t, err, "probability tensor contains either `inf`, `nan` or element < 0")
}

// Issue 14 item 11: a prompt that exactly fills the context generated
// nothing and said nothing; now it ends with FinishContextFull.
func TestGeneratePromptFillsContext(t *testing.T) {
	m, cfg := loadTiny(t)
	ids := make([]int, cfg.MaxPositionEmbeddings)
	for i := range ids {
		ids[i] = 1 + i%300
	}
	gen, err := m.NewGenerator(context.Background(), backend.Eager{}, m.NewState(1), tinyPrefill(t, m, ids), GenerateOptions{MaxNewTokens: 4})
	require.NoError(t, err)
	require.False(t, gen.Next(context.Background()))
	require.NoError(t, gen.Err())
	require.Equal(t, FinishContextFull, gen.Finish())
	require.Zero(t, gen.Generated())
	// One more position does not fit at all.
	_, err = m.NewGenerator(context.Background(), backend.Eager{}, m.NewState(1), tinyPrefill(t, m, append(ids, 1)), GenerateOptions{MaxNewTokens: 4})
	require.ErrorContains(t, err, "context window of 256")
}

// Finish reasons, log-probabilities and the golden ids through the
// Generator.
func TestGeneratorGoldenStepsAndLogprobs(t *testing.T) {
	m, _ := loadTiny(t)
	g := loadGoldenIDs(t)
	gen, err := m.NewGenerator(context.Background(), backend.Eager{}, m.NewState(1), tinyPrefill(t, m, g.PromptIDs), GenerateOptions{MaxNewTokens: len(g.GeneratedIDs), TopLogprobs: 3})
	require.NoError(t, err)
	var ids []int
	for gen.Next(context.Background()) {
		st := gen.Step()
		ids = append(ids, st.ID)
		require.Len(t, st.Top, 3)
		require.Equal(t, st.ID, st.Top[0].ID, "greedy picks the most likely token")
		require.Equal(t, st.Logprob, st.Top[0].Logprob)
		require.Less(t, st.Logprob, float32(0))
		require.GreaterOrEqual(t, st.Top[0].Logprob, st.Top[1].Logprob)
	}
	require.Equal(t, FinishMaxTokens, gen.Finish())
	require.Equal(t, g.GeneratedIDs, ids)
}

// topK against a full sort (the plain reference).
func TestTopKMatchesSort(t *testing.T) {
	vals := []float32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9}
	ref := make([]int, len(vals))
	for i := range ref {
		ref[i] = i
	}
	sort.SliceStable(ref, func(a, b int) bool { return vals[ref[a]] > vals[ref[b]] })
	for k := 0; k <= len(vals); k++ {
		require.Equal(t, ref[:k], append([]int{}, topK(vals, k)...), "k=%d", k)
	}
}
