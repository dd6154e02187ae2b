package fovea

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// goldenLogits runs the golden input of folder name through m: logits
// for the decoders, the last hidden state for CLIP.
func goldenLogits(t *testing.T, m *Model, g *golden, name string) (got, want *tensor.Tensor) {
	t.Helper()
	ctx := context.Background()
	switch m.Kind() {
	case KindLlama:
		l, err := m.Logits(ctx, g.ids(t, "input_ids"), nil)
		require.NoError(t, err)
		return l, g.f32(t, "logits")
	case KindLlava:
		l, err := m.Logits(ctx, g.ids(t, "input_ids"), &Pixels{Values: g.f32(t, "pixel_values")})
		require.NoError(t, err)
		return l, g.f32(t, "logits")
	case KindMllama:
		l, err := m.Logits(ctx, g.ids(t, "input_ids"), mllamaGoldenPixels(t, g, "", true))
		require.NoError(t, err)
		return l, g.f32(t, "logits")
	case KindCLIPVision:
		vo, err := m.VisionOutputs(ctx, &Pixels{Values: g.f32(t, "pixel_values")})
		require.NoError(t, err)
		return vo.LastHidden, g.f32(t, "last_hidden_state")
	}
	t.Fatalf("%s: no golden output for kind %s", name, m.Kind())
	return nil, nil
}

// TestSaveGoldenRoundTrip saves every golden checkpoint loaded with the
// default (packed F32) and with ForTraining: the written file has exactly
// HF's tensor names, dtypes and shapes, the same bits, HF's metadata, the
// side files, and loads back to the same logits.
func TestSaveGoldenRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"llama_tiny", "clip_tiny", "llava_tiny", "llava_tiny_2img", "mllama_tiny", "mllama_tiny_gate0"} {
		for _, mode := range []struct {
			name string
			opts []Option
		}{{"f32", nil}, {"training", []Option{ForTraining()}}} {
			t.Run(name+"/"+mode.name, func(t *testing.T) {
				g := openGolden(t, name)
				m, err := Load(ctx, g.dir, append([]Option{WithoutTokenizer()}, mode.opts...)...)
				require.NoError(t, err)
				before, _ := goldenLogits(t, m, g, name)
				out := filepath.Join(t.TempDir(), "saved")
				require.NoError(t, m.Save(ctx, out))

				orig, err := safetensors.Open(filepath.Join(g.dir, WeightsFile))
				require.NoError(t, err)
				defer orig.Close()
				saved, err := safetensors.Open(filepath.Join(out, WeightsFile))
				require.NoError(t, err)
				defer saved.Close()
				wantFile, err := os.ReadFile(filepath.Join(g.dir, WeightsFile))
				require.NoError(t, err)
				gotFile, err := os.ReadFile(filepath.Join(out, WeightsFile))
				require.NoError(t, err)
				require.True(t, bytes.Equal(wantFile, gotFile), "the saved file is byte for byte the file HF wrote")
				require.Equal(t, orig.Names(), saved.Names())
				require.Equal(t, map[string]string{"format": "pt"}, saved.Metadata())
				for _, n := range orig.Names() {
					oi, _ := orig.Info(n)
					si, _ := saved.Info(n)
					require.Equal(t, oi, si, n)
					ob, err := orig.Raw(n)
					require.NoError(t, err)
					sb, err := saved.Raw(n)
					require.NoError(t, err)
					require.True(t, bytes.Equal(ob, sb), "%s: saved bytes differ", n)
				}
				for _, f := range []string{"config.json", "preprocessor_config.json", "generation_config.json"} {
					want, err := os.ReadFile(filepath.Join(g.dir, f))
					if err != nil {
						continue
					}
					got, err := os.ReadFile(filepath.Join(out, f))
					require.NoError(t, err, f)
					require.Equal(t, want, got, f)
				}

				back, err := Load(ctx, out, WithoutTokenizer())
				require.NoError(t, err)
				after, want := goldenLogits(t, back, g, name)
				require.Equal(t, before.Data, after.Data, "reloaded output differs")
				d := requireClose(t, "reloaded vs HF", want, after)
				t.Logf("%s: %d tensors identical, reloaded max |Δ| vs HF %.3g", name, len(orig.Names()), d)
			})
		}
	}
}

// TestSaveReplacesAtomically: saving over a folder of model files replaces
// it whole (a stale shard of an earlier save is gone) and leaves no
// temporary folders behind; a Q8_0 model refuses.
func TestSaveReplacesAtomically(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, filepath.Join("testdata", "llama_tiny"), WithoutTokenizer())
	require.NoError(t, err)
	parent := t.TempDir()
	out := filepath.Join(parent, "m")
	require.NoError(t, os.MkdirAll(out, 0o755))
	stale := filepath.Join(out, "model-00001-of-00002.safetensors")
	require.NoError(t, os.WriteFile(stale, []byte("old"), 0o644))
	require.NoError(t, m.Save(ctx, out, WithExtraFile("extra.json", func(p string) error {
		return os.WriteFile(p, []byte("{}"), 0o644)
	})))
	_, err = os.Stat(stale)
	require.True(t, os.IsNotExist(err), "the old folder must be replaced")
	_, err = os.Stat(filepath.Join(out, "extra.json"))
	require.NoError(t, err)
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary folders left: %v", entries)
	// A second save over it (the extra file is one it writes again) is
	// still a whole-folder replace.
	require.NoError(t, m.Save(ctx, out, WithExtraFile("extra.json", func(p string) error {
		return os.WriteFile(p, []byte("{\"v\":2}"), 0o644)
	})))
	b, err := os.ReadFile(filepath.Join(out, "extra.json"))
	require.NoError(t, err)
	require.Equal(t, `{"v":2}`, string(b))

	require.ErrorContains(t, m.Save(ctx, out, WithExtraFile("../x", func(string) error { return nil })), "plain file name")

	q, err := Load(ctx, filepath.Join("testdata", "llama_tiny"), WithoutTokenizer(), WithQuantization(Q8_0))
	require.NoError(t, err)
	require.ErrorContains(t, q.Save(ctx, filepath.Join(parent, "q")), "Q8_0")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, m.Save(cancelled, filepath.Join(parent, "c")), context.Canceled)
}

// TestSaveKeepsOtherFiles: saving into a folder that also holds a
// dataset and notes (Save(ctx, ".") from a project, say) touches none of
// them: the model files are replaced one by one, the stale ones of an
// earlier sharded save are removed, and the folder loads as the model.
func TestSaveKeepsOtherFiles(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, filepath.Join("testdata", "llama_tiny"), WithoutTokenizer())
	require.NoError(t, err)
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(out, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "data", "train.jsonl"), []byte("{}\n"), 0o644))
	for _, stale := range []string{"model-00001-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.model"} {
		require.NoError(t, os.WriteFile(filepath.Join(out, stale), []byte("old"), 0o644))
	}
	require.NoError(t, m.Save(ctx, out))

	for name, want := range map[string]string{"notes.txt": "mine", filepath.Join("data", "train.jsonl"): "{}\n"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err, name)
		require.Equal(t, want, string(b), name)
	}
	for _, stale := range []string{"model-00001-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.model"} {
		_, err := os.Stat(filepath.Join(out, stale))
		require.True(t, os.IsNotExist(err), "stale model file %s must be removed", stale)
	}
	parentEntries, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	for _, e := range parentEntries {
		require.NotContains(t, e.Name(), ".tmp-", "temporary folder left behind")
	}
	r, err := Load(ctx, out, WithoutTokenizer())
	require.NoError(t, err)
	ids := []int{1, 5, 9}
	a, err := m.Logits(ctx, ids, nil)
	require.NoError(t, err)
	b, err := r.Logits(ctx, ids, nil)
	require.NoError(t, err)
	require.Equal(t, a.Data, b.Data)
}

// TestSaveWritesLegacyLLaVANames: a LLaVA folder in the newer HF layout
// (model.language_model.*, lm_head.*) is saved in the legacy layout that
// every transformers version loads, byte for byte the golden file.
func TestSaveWritesLegacyLLaVANames(t *testing.T) {
	ctx := context.Background()
	dir := copyCase(t, "llava_tiny", newLayout)
	m, err := Load(ctx, dir, WithoutTokenizer())
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "legacy")
	require.NoError(t, m.Save(ctx, out))
	want, err := os.ReadFile(filepath.Join("testdata", "llava_tiny", WeightsFile))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(out, WeightsFile))
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got))
}
