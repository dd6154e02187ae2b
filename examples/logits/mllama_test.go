package main

import (
	"context"
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
)

func TestLogitsMllama(t *testing.T) {
	for _, name := range []string{"mllama_tiny", "mllama_tiny_gate0"} {
		t.Run(name, func(t *testing.T) {
			dir := caseDir(name)
			gold := filepath.Join(dir, "golden.safetensors")
			// pixel_values, aspect ratio ids/mask, cross_attention_mask from -inputs.
			out := runCase(t, "-model", dir, "-inputs", gold, "-generate", "8")
			d1 := compare(t, out, name, nameLogits, namePixelValues)
			require.Equal(t, goldenGenerated(t, name), generated(t, out))
			// Preprocessed from the image file; masks from the image token.
			out = runCase(t, "-model", dir, "-inputs", gold, "-images", filepath.Join(dir, "image.png"), "-generate", "8")
			d2 := compare(t, out, name, nameLogits, namePixelValues)
			require.Equal(t, goldenGenerated(t, name), generated(t, out))
			// The padded-tile image and the text-only run (input_ids alone).
			out = runCase(t, "-model", dir, "-inputs", gold, "-images", filepath.Join(dir, "image_square.png"))
			d3 := compareAs(t, out, nameLogits, name, "sq.logits")
			d3 = max(d3, compareAs(t, out, namePixelValues, name, "sq.pixel_values"))
			idsOnly := filepath.Join(t.TempDir(), "ids.safetensors")
			gf, err := fovea.OpenSafetensors(gold)
			require.NoError(t, err)
			vals, shape, err := gf.Int64(nameInputIDs)
			gf.Close()
			require.NoError(t, err)
			require.NoError(t, fovea.WriteSafetensors(idsOnly, []fovea.SafetensorsEntry{fovea.Int64Entry(nameInputIDs, vals, shape...)}, nil))
			out = runCase(t, "-model", dir, "-inputs", idsOnly)
			d4 := compareAs(t, out, nameLogits, name, "logits_text_only")
			t.Logf("%s: max |Δ| %.3g (inputs), %.3g (images), %.3g (sq.), %.3g (text only)", name, d1, d2, d3, d4)
		})
	}
}

// compareAs checks output tensor got against golden tensor want of case name.
func compareAs(t *testing.T, out *fovea.SafetensorsFile, got, name, want string) float64 {
	t.Helper()
	gold, err := fovea.OpenSafetensors(filepath.Join(caseDir(name), "golden.safetensors"))
	require.NoError(t, err)
	defer gold.Close()
	w, err := gold.Float32(want)
	require.NoError(t, err)
	g, err := out.Float32(got)
	require.NoError(t, err)
	require.Equal(t, w.Shape, g.Shape)
	worst := 0.0
	for i := range w.Data {
		worst = math.Max(worst, math.Abs(float64(w.Data[i])-float64(g.Data[i])))
	}
	require.LessOrEqual(t, worst, goldenTol, want)
	return worst
}

func TestLogitsMllamaErrors(t *testing.T) {
	dir := caseDir("mllama_tiny")
	out := filepath.Join(t.TempDir(), "o.safetensors")
	// input_ids only: the prompt's image token without an image runs text-only
	// (HF's model without pixel_values); input_ids are still required.
	err := run(context.Background(), []string{"-model", dir, "-out", out}, io.Discard)
	require.ErrorContains(t, err, nameInputIDs)
	// Two images for a prompt with one image token.
	img := filepath.Join(dir, "image.png")
	err = run(context.Background(), []string{"-model", dir, "-inputs", filepath.Join(dir, "golden.safetensors"),
		"-images", img + "," + img, "-out", out}, io.Discard)
	require.ErrorContains(t, err, "1 image tokens (id 383) but 2 image(s)")
}
