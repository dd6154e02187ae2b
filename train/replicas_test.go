package train

import (
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireClose checks two loss histories step by step to tol (relative).
func requireClose(t *testing.T, want, got []float64, tol float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		require.InDelta(t, want[i], got[i], tol*math.Max(1, math.Abs(want[i])), "%s: step %d", msg, i+1)
	}
}

// TestReplicasTrainAndResume: the LLaVA recipe on 2 replicas with
// batches of 3 rows (2 + 1 per shard, the last batches of an epoch
// shorter) follows the one-graph run to float32 rounding; two runs with
// one seed agree bit for bit, also with another GOMAXPROCS; stopping and
// resuming gives the uninterrupted losses, loss for loss.
func TestReplicasTrainAndResume(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	cfg := f.config(t, RecipeLLaVA, 6)
	cfg.Batch = 3
	single, _ := f.run(t, f.dir, cfg, t.TempDir(), 0, "")
	cfg.Replicas = 2
	full, sum := f.run(t, f.dir, cfg, t.TempDir(), 0, "")
	t.Logf("one graph %v\n2 replicas %v\n%s", single, full, sum)
	requireClose(t, single, full, 1e-5, "2 replicas against one graph")
	func() {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		again, _ := f.run(t, f.dir, cfg, t.TempDir(), 0, "")
		require.Equal(t, full, again, "two runs with one seed, GOMAXPROCS 1 and the default")
	}()
	for _, stop := range []int{2, 5} {
		out := t.TempDir()
		first, _ := f.run(t, f.dir, cfg, out, stop, "")
		ckpt, err := LatestCheckpoint(out)
		require.NoError(t, err)
		rest, _ := f.run(t, "", cfg, out, 0, ckpt)
		require.Equal(t, full, append(first, rest...), "stopped after %d and resumed", stop)
	}
}

// TestReplicasOtherStages: the projector stage on mllama_tiny (cross-attention
// training state) and pretrain-vision (the tower on the graph, tile
// embeddings and vision masks per shard; and LLaVA's CLIP) on 2 replicas
// follow the one-graph run; more replicas than rows fall back to one per row.
func TestReplicasOtherStages(t *testing.T) {
	for _, c := range []struct{ golden, recipe string }{
		{"mllama_tiny", RecipeProjector}, {"mllama_tiny", RecipePretrainVision}, {"llava_tiny", RecipePretrainVision},
	} {
		f, recipe := newFixture(t, c.golden), c.recipe
		cfg := f.config(t, recipe, 3)
		single, _ := f.run(t, f.dir, cfg, t.TempDir(), 0, "")
		cfg.Replicas = 5 // Batch is 2: 2 replicas
		got, _ := f.run(t, f.dir, cfg, t.TempDir(), 0, "")
		t.Logf("%s %s: one graph %v\nreplicas %v", c.golden, recipe, single, got)
		requireClose(t, single, got, 1e-5, c.golden+" "+recipe+": replicas against one graph")
	}
}

func TestReplicasConfig(t *testing.T) {
	f := newFixture(t, "llava_tiny")
	cfg := f.config(t, RecipeLLaVA, 1)
	cfg.Replicas = -1
	require.ErrorContains(t, cfg.Validate(), "replicas -1")
}
