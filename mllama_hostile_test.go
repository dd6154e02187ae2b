package fovea

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// noPanic runs fn and turns a panic into a test failure naming the case.
func noPanic(t *testing.T, name string, fn func() error) error {
	t.Helper()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s panicked: %v", name, r)
			}
		}()
		err = fn()
	}()
	return err
}

// TestMllamaMalformedInputs: side inputs and pixel data that once
// panicked (or were accepted) are errors naming what is wrong.
func TestMllamaMalformedInputs(t *testing.T) {
	ctx := context.Background()
	g := openGolden(t, "mllama_tiny")
	m, err := Load(ctx, g.dir, WithoutTokenizer())
	if err != nil {
		t.Fatal(err)
	}
	ids := g.ids(t, "input_ids")
	cases := map[string]struct {
		edit func(px *Pixels)
		want string
	}{
		"nil mask and nil NumTiles": {func(px *Pixels) { px.Extra.(*MllamaInputs).AspectRatioMask = nil }, "mask rows"},
		"mask value 7":              {func(px *Pixels) { px.Extra.(*MllamaInputs).AspectRatioMask[0][0][1] = 7 }, "not 0 or 1"},
		"short cross_attention_mask data": {func(px *Pixels) {
			tm := px.Extra.(*MllamaInputs).CrossAttentionMask
			tm.Data = tm.Data[:3]
		}, "needs 20 values, Data holds 3"},
		"cross_attention_mask value 7": {func(px *Pixels) {
			px.Extra.(*MllamaInputs).CrossAttentionMask.Data[4] = 7
		}, "value 7 at flat index 4"},
		"pixel data shorter than its shape": {func(px *Pixels) {
			px.Values = &tensor.Tensor{Shape: px.Values.Shape, Data: px.Values.Data[:10]}
		}, "the tensor holds 10"},
		"NaN pixel": {func(px *Pixels) { px.Values.Data[100] = float32(math.NaN()) }, "value 100 is NaN"},
	}
	for name, c := range cases {
		// Without a cross_attention_mask the mask is built from
		// AspectRatioMask (when NumTiles is nil).
		px := mllamaGoldenPixels(t, g, "", strings.Contains(name, "cross_attention_mask"))
		c.edit(px)
		err := noPanic(t, name, func() error { _, err := m.LogitsPixels(ctx, ids, px); return err })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// NumTiles out of range, and a typed-nil image.
	px := mllamaGoldenPixels(t, g, "", false)
	px.Extra.(*MllamaInputs).NumTiles = [][]int{{7}}
	if err := noPanic(t, "NumTiles 7", func() error { _, err := m.LogitsPixels(ctx, ids, px); return err }); err == nil {
		t.Error("NumTiles 7 accepted")
	}
	var nilImg *image.RGBA
	err = noPanic(t, "typed nil", func() error { _, err := m.PreprocessImages([]image.Image{nilImg}); return err })
	if err == nil || !strings.Contains(err.Error(), "nil image") {
		t.Errorf("typed-nil image: %v", err)
	}
}

// TestNaNPixelsRefused: CLIP-family pixel values must be finite and as
// long as their shape.
func TestNaNPixelsRefused(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"llava_tiny", "clip_tiny"} {
		m, err := Load(ctx, "testdata/"+name, WithoutTokenizer())
		if err != nil {
			t.Fatal(err)
		}
		px := tensor.New(1, 3, 32, 32)
		px.Data[5] = float32(math.Inf(-1))
		_, err = m.VisionOutputs(ctx, &Pixels{Values: px})
		if err == nil || !strings.Contains(err.Error(), "-Inf") {
			t.Errorf("%s: -Inf pixel: %v", name, err)
		}
		short := &tensor.Tensor{Shape: []int{2, 3, 32, 32}, Data: make([]float32, 3*32*32)}
		err = noPanic(t, name, func() error { _, err := m.VisionOutputs(ctx, &Pixels{Values: short}); return err })
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(2*3*32*32)) {
			t.Errorf("%s: short pixel data: %v", name, err)
		}
	}
}
