package vision

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// allocated returns the bytes fn allocates (runtime.MemStats.TotalAlloc).
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// stripPNG encodes a w×h grey PNG (a 65536×1 one is a few hundred bytes).
func stripPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestResizeTargetBounded: a 65536×1 strip passes the decoding limits, but
// CLIP's shortest_edge 336 would resize it to 22 M × 336 (~22 GB) before
// cropping. It must be refused before that allocation.
func TestResizeTargetBounded(t *testing.T) {
	data := stripPNG(t, 1<<16, 1)
	img, err := DecodeImage(bytes.NewReader(data), "strip.png")
	if err != nil {
		t.Fatalf("decode %d-byte strip: %v", len(data), err)
	}
	pc := DefaultCLIPPreprocessorConfig()
	pc.Size, pc.CropSize = SizeDict{ShortestEdge: 336}, SizeDict{Height: 336, Width: 336} // llava-1.5's
	var perr error
	n := allocated(func() { _, perr = pc.Preprocess(img) })
	if !errors.Is(perr, ErrImageTooLarge) || !strings.Contains(perr.Error(), "MaxImagePixels") {
		t.Fatalf("Preprocess(65536×1) = %v, want ErrImageTooLarge naming the limit", perr)
	}
	if n > 64<<20 {
		t.Fatalf("Preprocess allocated %d bytes before refusing", n)
	}
	// A 4096×1 strip (1.4 GB before) is refused the same way.
	img, _ = DecodeImage(bytes.NewReader(stripPNG(t, 4096, 1)), "s.png")
	if _, err := pc.Preprocess(img); !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("Preprocess(4096×1) = %v", err)
	}
	// Ordinary panoramas still work.
	img, _ = DecodeImage(bytes.NewReader(stripPNG(t, 400, 100)), "p.png")
	if pv, err := pc.Preprocess(img); err != nil || pv.Shape[1] != 336 {
		t.Fatalf("Preprocess(400×100) = %v, %v", pv, err)
	}
	// Mllama bounds its canvas the same way.
	mc := DefaultMllamaPreprocessorConfig()
	mc.Size = SizeDict{Height: 16000, Width: 16000}
	img, _ = DecodeImage(bytes.NewReader(stripPNG(t, 64, 64)), "m.png")
	n = allocated(func() { _, perr = mc.Preprocess([][]image.Image{{img}}) })
	if !errors.Is(perr, ErrImageTooLarge) || n > 64<<20 {
		t.Fatalf("Mllama 16000-pixel tiles: %v after %d bytes", perr, n)
	}
}

// TestPreprocessorSizesCapped: sizes above config.MaxImageSize are refused
// when the config is parsed, naming the key and the limit.
func TestPreprocessorSizesCapped(t *testing.T) {
	for _, tc := range []struct{ js, key string }{
		{`{"image_processor_type":"CLIPImageProcessor","crop_size":{"height":20000,"width":20000}}`, "crop_size.height"},
		{`{"image_processor_type":"CLIPImageProcessor","crop_size":20000}`, "crop_size.height"},
		{`{"image_processor_type":"CLIPImageProcessor","size":{"shortest_edge":20000}}`, "size.shortest_edge"},
		{`{"image_processor_type":"MllamaImageProcessor","size":{"height":20000,"width":20000}}`, "size.height"},
	} {
		_, err := ParsePreprocessorConfig([]byte(tc.js))
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), "16384") {
			t.Errorf("%s: %v, want an error naming %s and 16384", tc.js, err, tc.key)
		}
	}
}

// TestPreprocessorTowerCheck: the output size must be the tower's.
func TestPreprocessorTowerCheck(t *testing.T) {
	pc := DefaultCLIPPreprocessorConfig()
	vc := config.DefaultCLIPVision()
	vc.ImageSize = 224
	if err := pc.CheckTower(&vc); err != nil {
		t.Fatalf("224 crop on a 224 tower: %v", err)
	}
	pc.CropSize = SizeDict{Height: 20000, Width: 20000}
	if err := pc.CheckTower(&vc); err == nil || !strings.Contains(err.Error(), "crop_size") {
		t.Fatalf("20000 crop on a 224 tower: %v", err)
	}
	mc := DefaultMllamaPreprocessorConfig()
	mv := config.DefaultMllamaVision()
	mv.ImageSize = 448
	if err := mc.CheckTower(&mv); err == nil || !strings.Contains(err.Error(), "448") {
		t.Fatalf("224 tiles on a 448 tower: %v", err)
	}
}

// TestFloat32Overflow: statistics that are valid float64 but overflow or
// underflow float32 (where the arithmetic runs) are refused.
func TestFloat32Overflow(t *testing.T) {
	for _, js := range []string{
		`{"image_processor_type":"CLIPImageProcessor","image_std":[1e-300,0.5,0.5]}`,
		`{"image_processor_type":"CLIPImageProcessor","rescale_factor":1e300}`,
		`{"image_processor_type":"CLIPImageProcessor","rescale_factor":1e-300}`,
		`{"image_processor_type":"CLIPImageProcessor","image_mean":[1e39,0,0]}`,
		`{"image_processor_type":"CLIPImageProcessor","image_std":[1e-40,1,1]}`,
		`{"image_processor_type":"MllamaImageProcessor","image_std":[1e-300,0.5,0.5]}`,
		`{"image_processor_type":"MllamaImageProcessor","rescale_factor":1e300}`,
	} {
		if _, err := ParsePreprocessorConfig([]byte(js)); err == nil {
			t.Errorf("%s loaded", js)
		}
	}
	pc := DefaultCLIPPreprocessorConfig()
	pc.ImageStd = []float64{math.NaN(), 1, 1}
	if err := pc.Validate(); err == nil {
		t.Error("NaN image_std accepted")
	}
}

// TestTypedNilImage: a typed nil is an error, not a panic.
func TestTypedNilImage(t *testing.T) {
	var img *image.RGBA
	if _, err := DefaultCLIPPreprocessorConfig().Preprocess(img); err == nil {
		t.Error("CLIP accepted (*image.RGBA)(nil)")
	}
	if _, err := DefaultMllamaPreprocessorConfig().Preprocess([][]image.Image{{img}}); err == nil {
		t.Error("Mllama accepted (*image.RGBA)(nil)")
	}
	// Hand-built images whose buffers do not cover their Rect.
	for _, bad := range []image.Image{
		&image.RGBA{Rect: image.Rect(0, 0, 40, 40)},
		&image.Gray{Rect: image.Rect(0, 0, 40, 40), Stride: 40, Pix: make([]uint8, 100)},
		&image.Paletted{Rect: image.Rect(0, 0, 4, 4), Stride: 1, Pix: make([]uint8, 16)},
		&image.YCbCr{Rect: image.Rect(0, 0, 8, 8), YStride: 8, Y: make([]uint8, 64), CStride: 4,
			SubsampleRatio: image.YCbCrSubsampleRatio420},
	} {
		if _, err := DefaultCLIPPreprocessorConfig().Preprocess(bad); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("CLIP accepted malformed %T: %v", bad, err)
		}
		if _, err := DefaultMllamaPreprocessorConfig().Preprocess([][]image.Image{{bad}}); err == nil {
			t.Errorf("Mllama accepted malformed %T", bad)
		}
	}
	good := image.NewYCbCr(image.Rect(3, 5, 20, 17), image.YCbCrSubsampleRatio420)
	if _, err := DefaultCLIPPreprocessorConfig().Preprocess(good); err != nil {
		t.Errorf("valid YCbCr refused: %v", err)
	}
}

// TestPixelDataChecked: data shorter than the shape, and NaN pixels, are
// refused before Forward.
func TestPixelDataChecked(t *testing.T) {
	vc := config.DefaultCLIPVision()
	vc.HiddenSize, vc.IntermediateSize, vc.NumHiddenLayers, vc.NumAttentionHeads = 8, 8, 1, 2
	vc.ImageSize, vc.PatchSize = 4, 2
	m, err := NewCLIPVision(&vc)
	if err != nil {
		t.Fatal(err)
	}
	good := tensor.New(1, 3, 4, 4)
	if err := m.CheckPixelValues(good); err != nil {
		t.Fatal(err)
	}
	short := &tensor.Tensor{Shape: []int{2, 3, 4, 4}, Data: make([]float32, 48)}
	if err := m.CheckPixelValues(short); err == nil || !strings.Contains(err.Error(), "96") {
		t.Errorf("short data: %v", err)
	}
	good.Data[5] = float32(math.NaN())
	if err := m.CheckPixelValues(good); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN pixel: %v", err)
	}
	huge := &tensor.Tensor{Shape: []int{math.MaxInt / 8, 3, 4, 4}}
	if err := m.CheckPixelValues(huge); err == nil {
		t.Error("overflowing shape accepted")
	}
}

// countdownCtx is a context whose Err turns to Canceled after n calls.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestVisionContextChecksBetweenLayers: the towers stop between layers.
func TestVisionContextChecksBetweenLayers(t *testing.T) {
	vc := config.DefaultCLIPVision()
	vc.HiddenSize, vc.IntermediateSize, vc.NumHiddenLayers, vc.NumAttentionHeads = 8, 8, 3, 2
	vc.ImageSize, vc.PatchSize = 4, 2
	m, err := NewCLIPVision(&vc)
	if err != nil {
		t.Fatal(err)
	}
	b := backend.Eager{}
	px := b.Const(tensor.New(1, 3, 4, 4))
	_, err = m.HiddenStatesContext(&countdownCtx{Context: context.Background(), n: 1}, b, px, 3)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "before layer 1") {
		t.Fatalf("HiddenStatesContext = %v", err)
	}
	if _, _, _, err := m.ForwardContext(context.Background(), b, px); err != nil {
		t.Fatal(err)
	}
}

// nilColorImage is a hand-written image whose At returns no colour.
type nilColorImage struct{}

func (nilColorImage) ColorModel() color.Model { return color.RGBAModel }
func (nilColorImage) Bounds() image.Rectangle { return image.Rect(0, 0, 2, 2) }
func (nilColorImage) At(int, int) color.Color { return nil }

// Nil colours (a nil palette entry, an At that returns nil) are black, not
// a panic.
func TestNilColours(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{nil, color.White})
	pal.Pix[1] = 1
	if got := ToRGB(pal).Pix; !bytes.Equal(got, []uint8{0, 0, 0, 255, 255, 255}) {
		t.Fatalf("paletted with a nil entry: %v", got)
	}
	if got := ToRGB(nilColorImage{}).Pix; !bytes.Equal(got, make([]uint8, 12)) {
		t.Fatalf("At returning nil: %v", got)
	}
}
