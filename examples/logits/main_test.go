package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
)

// goldenTol is the float32-vs-HF tolerance of the project.
const goldenTol = 1e-4

func caseDir(name string) string { return filepath.Join("..", "..", "testdata", name) }

// runCase runs the command and returns its output file, opened.
func runCase(t *testing.T, argv ...string) *fovea.SafetensorsFile {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.safetensors")
	require.NoError(t, run(context.Background(), append(argv, "-out", out), io.Discard))
	f, err := fovea.OpenSafetensors(out)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// compare checks every named tensor of out against the golden file.
func compare(t *testing.T, out *fovea.SafetensorsFile, goldName string, names ...string) float64 {
	t.Helper()
	gold, err := fovea.OpenSafetensors(filepath.Join(caseDir(goldName), "golden.safetensors"))
	require.NoError(t, err)
	defer gold.Close()
	worst := 0.0
	for _, n := range names {
		want, err := gold.Float32(n)
		require.NoError(t, err, n)
		got, err := out.Float32(n)
		require.NoError(t, err, n)
		require.Equal(t, want.Shape, got.Shape, n)
		for i := range want.Data {
			worst = math.Max(worst, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
		}
		require.LessOrEqual(t, worst, goldenTol, n)
	}
	return worst
}

func goldenGenerated(t *testing.T, name string) []int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(caseDir(name), "golden.json"))
	require.NoError(t, err)
	var g struct {
		GeneratedIDs []int64 `json:"generated_ids"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.GeneratedIDs)
	return g.GeneratedIDs
}

func generated(t *testing.T, out *fovea.SafetensorsFile) []int64 {
	t.Helper()
	ids, shape, err := out.Int64(nameGenerated)
	require.NoError(t, err)
	require.Equal(t, []int{len(ids)}, shape)
	return ids
}

func TestLogitsLlava(t *testing.T) {
	for _, c := range []struct{ name, images string }{
		{"llava_tiny", "image.png"},
		{"llava_tiny_2img", "image.png,image2.png"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := caseDir(c.name)
			gold := filepath.Join(dir, "golden.safetensors")
			// pixel_values from -inputs.
			out := runCase(t, "-model", dir, "-inputs", gold, "-generate", "8")
			d1 := compare(t, out, c.name, nameLogits, namePixelValues)
			require.Equal(t, goldenGenerated(t, c.name), generated(t, out))
			// pixel_values preprocessed from the image files.
			imgs := joinPaths(dir, c.images)
			out = runCase(t, "-model", dir, "-inputs", gold, "-images", imgs, "-generate", "8")
			d2 := compare(t, out, c.name, nameLogits, namePixelValues)
			require.Equal(t, goldenGenerated(t, c.name), generated(t, out))
			t.Logf("%s: max |Δ| %.3g (inputs), %.3g (images)", c.name, d1, d2)
		})
	}
}

// joinPaths prefixes each comma-separated name with dir.
func joinPaths(dir, names string) string {
	parts := strings.Split(names, ",")
	for i, p := range parts {
		parts[i] = filepath.Join(dir, p)
	}
	return strings.Join(parts, ",")
}

// TestLogitsLegacyIDs feeds the one-placeholder-per-image ids: the
// command expands them and matches the expanded logits and the legacy
// greedy ids of the README.
func TestLogitsLegacyIDs(t *testing.T) {
	for _, name := range []string{"llava_tiny", "llava_tiny_2img"} {
		dir := caseDir(name)
		gold, err := fovea.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
		require.NoError(t, err)
		ids, shape, err := gold.Int64("input_ids_legacy")
		require.NoError(t, err)
		px, err := gold.Float32(namePixelValues)
		require.NoError(t, err)
		gold.Close()
		in := filepath.Join(t.TempDir(), "in.safetensors")
		require.NoError(t, fovea.WriteSafetensors(in, []fovea.SafetensorsEntry{
			fovea.Int64Entry(nameInputIDs, ids, shape...),
			fovea.Float32Entry(namePixelValues, px),
		}, nil))
		out := runCase(t, "-model", dir, "-inputs", in, "-generate", "8")
		d := compare(t, out, name, nameLogits)
		raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
		require.NoError(t, err)
		var g struct {
			Legacy []int64 `json:"generated_ids_legacy"`
		}
		require.NoError(t, json.Unmarshal(raw, &g))
		require.NotEmpty(t, g.Legacy)
		require.Equal(t, g.Legacy, generated(t, out))
		t.Logf("%s legacy ids: max |Δ logits| %.3g", name, d)
	}
}

func TestLogitsLlama(t *testing.T) {
	dir := caseDir("llama_tiny")
	out := runCase(t, "-model", dir, "-inputs", filepath.Join(dir, "golden.safetensors"), "-generate", "8")
	d := compare(t, out, "llama_tiny", nameLogits)
	require.Equal(t, goldenGenerated(t, "llama_tiny"), generated(t, out))
	_, has := out.Info(namePixelValues)
	require.False(t, has)
	t.Logf("llama_tiny: max |Δ| %.3g", d)
}

func TestLogitsCLIP(t *testing.T) {
	dir := caseDir("clip_tiny")
	out := runCase(t, "-model", dir, "-inputs", filepath.Join(dir, "golden.safetensors"))
	d1 := compare(t, out, "clip_tiny", nameLastHidden, namePoolerOutput, namePixelValues)
	out = runCase(t, "-model", dir, "-images", filepath.Join(dir, "image.png"))
	d2 := compare(t, out, "clip_tiny", nameLastHidden, namePoolerOutput, namePixelValues)
	_, has := out.Info(nameLogits)
	require.False(t, has)
	t.Logf("clip_tiny: max |Δ| %.3g (inputs), %.3g (images)", d1, d2)
}

func TestLogitsErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.safetensors")
	ctx := context.Background()
	require.ErrorContains(t, run(ctx, []string{"-out", out}, io.Discard), "-model")
	// A text model without input_ids.
	err := run(ctx, []string{"-model", caseDir("llama_tiny"), "-out", out}, io.Discard)
	require.ErrorContains(t, err, nameInputIDs)
	// A vision model without pixels.
	err = run(ctx, []string{"-model", caseDir("clip_tiny"), "-out", out}, io.Discard)
	require.ErrorContains(t, err, namePixelValues)
	// A corrupt image names the file.
	bad := filepath.Join(t.TempDir(), "bad.png")
	require.NoError(t, os.WriteFile(bad, []byte("not a png"), 0o600))
	err = run(ctx, []string{"-model", caseDir("clip_tiny"), "-images", bad, "-out", out}, io.Discard)
	require.ErrorContains(t, err, "bad.png")
}

// TestBinary builds the command and runs it as the outside scripts do.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "logits")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	outb, err := build.CombinedOutput()
	require.NoError(t, err, string(outb))
	dir := caseDir("llava_tiny")
	out := filepath.Join(t.TempDir(), "out.safetensors")
	cmd := exec.Command(bin, "-model", dir, "-inputs", filepath.Join(dir, "golden.safetensors"),
		"-images", filepath.Join(dir, "image.png"), "-generate", "8", "-out", out)
	outb, err = cmd.CombinedOutput()
	require.NoError(t, err, string(outb))
	f, err := fovea.OpenSafetensors(out)
	require.NoError(t, err)
	defer f.Close()
	compare(t, f, "llava_tiny", nameLogits, namePixelValues)
	require.Equal(t, goldenGenerated(t, "llava_tiny"), generated(t, f))
	// A failing run exits non-zero with the reason on stderr.
	cmd = exec.Command(bin, "-model", filepath.Join(t.TempDir(), "none"), "-out", out)
	outb, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(outb), "logits:")
}
