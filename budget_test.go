package fovea

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// TestMinWeightsBoundsGoldens checks the weight-count lower bound against
// what each golden model really binds: never above it (a real checkpoint
// must load), and close to it (the bound is what limits allocation).
func TestMinWeightsBoundsGoldens(t *testing.T) {
	for _, dir := range []string{"testdata/llama_tiny", "testdata/clip_tiny", "testdata/llava_tiny", "testdata/mllama_tiny"} {
		m, err := Load(context.Background(), dir, WithQuantization(F32Compact), WithoutTokenizer())
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		ts, err := namedWeights(m.impl)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[*tensor.Tensor]bool{}
		var bound int64
		for _, nt := range ts {
			if !seen[nt.W] {
				seen[nt.W] = true
				bound += int64(tensor.Numel(nt.W.Shape))
			}
		}
		need := m.cfg.MinWeights()
		if need > bound || float64(need) < 0.9*float64(bound) {
			t.Errorf("%s: MinWeights %d, model binds %d values: want within [0.9, 1]", dir, need, bound)
		}
	}
}

// TestAllowNonFinite: NaN weights are refused by default and accepted
// with the opt-out.
func TestAllowNonFinite(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"config.json", safetensors.SingleFileName} {
		data, err := os.ReadFile(filepath.Join("testdata/llama_tiny", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, safetensors.SingleFileName)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		if ts[n], err = f.Float32(n); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	ts["model.embed_tokens.weight"].Data[11] = float32(math.NaN())
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := Load(ctx, dir); err == nil || !strings.Contains(err.Error(), "model.embed_tokens.weight holds NaN at flat index 11") {
		t.Fatalf("Load(NaN embeddings) = %v", err)
	}
	if _, err := Load(ctx, dir, AllowNonFinite()); err != nil {
		t.Fatalf("Load(NaN embeddings, AllowNonFinite()) = %v", err)
	}
}
