package vision

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

// ppTol is the project tolerance for float32 against HF.
const ppTol = 1e-4

func ppTestdata(parts ...string) string {
	return filepath.Join(append([]string{"..", "testdata"}, parts...)...)
}

// ppGoldenF32 reads one F32 tensor from testdata/<dir>/golden.safetensors.
func ppGoldenF32(t *testing.T, dir, name string) *tensor.Tensor {
	t.Helper()
	f, err := safetensors.Open(ppTestdata(dir, "golden.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	v, err := f.Float32(name)
	require.NoError(t, err)
	return v
}

// ppGoldenI64 reads one I64 tensor from testdata/<dir>/golden.safetensors.
func ppGoldenI64(t *testing.T, dir, name string) ([]int64, []int) {
	t.Helper()
	f, err := safetensors.Open(ppTestdata(dir, "golden.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	v, shape, err := f.Int64(name)
	require.NoError(t, err)
	return v, shape
}

func ppLoadImage(t *testing.T, dir, file string) image.Image {
	t.Helper()
	img, err := LoadImage(ppTestdata(dir, file))
	require.NoError(t, err)
	return img
}

// ppMaxAbsDiff returns the largest |a-b| after checking shapes.
func ppMaxAbsDiff(t *testing.T, want, got *tensor.Tensor) float64 {
	t.Helper()
	require.Equal(t, want.Shape, got.Shape)
	m := 0.0
	for i := range want.Data {
		m = math.Max(m, math.Abs(float64(want.Data[i])-float64(got.Data[i])))
	}
	return m
}

func ppCLIPConfig(t *testing.T, dir string) *CLIPPreprocessorConfig {
	t.Helper()
	cfg, err := LoadPreprocessorConfig(ppTestdata(dir))
	require.NoError(t, err)
	c, ok := cfg.(*CLIPPreprocessorConfig)
	require.True(t, ok, "want *CLIPPreprocessorConfig, got %T", cfg)
	return c
}

func TestCLIPPreprocessGolden(t *testing.T) {
	for _, dir := range []string{"clip_tiny", "llava_tiny"} {
		t.Run(dir, func(t *testing.T) {
			c := ppCLIPConfig(t, dir)
			got, err := c.PreprocessBatch([]image.Image{ppLoadImage(t, dir, "image.png")})
			require.NoError(t, err)
			want := ppGoldenF32(t, dir, "pixel_values")
			d := ppMaxAbsDiff(t, want, got)
			t.Logf("%s pixel_values %v max|Δ| = %.3g", dir, got.Shape, d)
			require.LessOrEqual(t, d, ppTol)
		})
	}
}

func TestCLIPPreprocessGoldenTwoImages(t *testing.T) {
	const dir = "llava_tiny_2img"
	c := ppCLIPConfig(t, dir)
	imgs := []image.Image{ppLoadImage(t, dir, "image.png"), ppLoadImage(t, dir, "image2.png")}
	got, err := c.PreprocessBatch(imgs)
	require.NoError(t, err)
	want := ppGoldenF32(t, dir, "pixel_values")
	d := ppMaxAbsDiff(t, want, got)
	t.Logf("%s pixel_values %v max|Δ| = %.3g", dir, got.Shape, d)
	require.LessOrEqual(t, d, ppTol)
	// The two images are mirrors of each other, so the rows must differ.
	require.NotEqual(t, got.Row(0).Data, got.Row(1).Data)
}

func TestParsePreprocessorConfig(t *testing.T) {
	c := ppCLIPConfig(t, "clip_tiny")
	require.Equal(t, 32, c.Size.ShortestEdge)
	require.Equal(t, SizeDict{Height: 32, Width: 32}, c.CropSize)
	require.Equal(t, ResampleBicubic, c.Resample)
	require.InDelta(t, 1.0/255, c.RescaleFactor, 1e-18)
	require.Equal(t, []float64{0.48145466, 0.4578275, 0.40821073}, c.ImageMean)

	m, err := LoadPreprocessorConfig(ppTestdata("mllama_tiny"))
	require.NoError(t, err)
	mc, ok := m.(*MllamaPreprocessorConfig)
	require.True(t, ok)
	require.Equal(t, 2, mc.MaxImageTiles)
	require.Equal(t, ResampleBilinear, mc.Resample)
	require.Equal(t, SizeDict{Height: 32, Width: 32}, mc.Size)

	// Legacy integer sizes and defaults for absent keys.
	p, err := ParsePreprocessorConfig([]byte(`{"feature_extractor_type":"CLIPFeatureExtractor","size":336,"crop_size":336}`))
	require.NoError(t, err)
	lc := p.(*CLIPPreprocessorConfig)
	require.Equal(t, SizeDict{ShortestEdge: 336}, lc.Size)
	require.Equal(t, SizeDict{Height: 336, Width: 336}, lc.CropSize)
	require.True(t, lc.DoNormalize)
	require.Len(t, lc.ImageStd, 3)

	for _, bad := range []string{
		`{"image_processor_type":"SiglipImageProcessor"}`,
		`{"size":{"shortest_edge":3}}`,
		`{"image_processor_type":"CLIPImageProcessor","resample":0}`,
		`{"image_processor_type":"CLIPImageProcessor","image_mean":[0.5,0.5]}`,
		`{"image_processor_type":"CLIPImageProcessor","image_std":[0.5,0,0.5]}`,
		`{"image_processor_type":"CLIPImageProcessor","size":{"height":0}}`,
		`{"image_processor_type":"MllamaImageProcessor","do_pad":false}`,
		`{"image_processor_type":"MllamaImageProcessor","max_image_tiles":0}`,
		`{"image_processor_type":"MllamaImageProcessor","size":{"height":32,"width":16}}`,
		`{not json`,
	} {
		_, err := ParsePreprocessorConfig([]byte(bad))
		require.Error(t, err, bad)
	}
}

// TestCLIPResizeOutputSize checks HF get_resize_output_image_size by hand:
// the long side is int(target*long/short).
func TestCLIPResizeOutputSize(t *testing.T) {
	c := DefaultCLIPPreprocessorConfig()
	c.Size = SizeDict{ShortestEdge: 32}
	for _, tc := range []struct{ h, w, wantH, wantW int }{
		{40, 48, 32, 38}, // 32*48/40 = 38.4
		{48, 40, 38, 32},
		{40, 40, 32, 32},
		{3, 1000, 32, 10666}, // 32*1000/3 = 10666.67
		{333, 500, 32, 48},   // 32*500/333 = 48.05
	} {
		h, w := c.resizeOutputSize(tc.h, tc.w)
		require.Equal(t, [2]int{tc.wantH, tc.wantW}, [2]int{h, w}, "%dx%d", tc.h, tc.w)
	}
	c.Size = SizeDict{Height: 20, Width: 30}
	h, w := c.resizeOutputSize(40, 48)
	require.Equal(t, [2]int{20, 30}, [2]int{h, w})
}

// TestCenterCrop checks offsets ((H-h)//2) and HF's zero padding when the
// crop is larger than the image (image placed at ceil(diff/2)).
func TestCenterCrop(t *testing.T) {
	src := NewRGBImage(5, 4)
	for i := range src.Pix {
		src.Pix[i] = uint8(i/3 + 1) // pixel index + 1, same in all channels
	}
	got := centerCrop(src, 2, 3) // top = 1, left = 1
	require.Equal(t, 3, got.Width)
	require.Equal(t, 2, got.Height)
	require.Equal(t, []uint8{7, 8, 9, 12, 13, 14}, ppChannel0(got))

	// Crop 6x3 (h x w) of a 4x5 image: height padded to 6 with top pad 1,
	// width cropped from left = (5-3)//2 = 1.
	got = centerCrop(src, 6, 3)
	require.Equal(t, []uint8{
		0, 0, 0,
		2, 3, 4,
		7, 8, 9,
		12, 13, 14,
		17, 18, 19,
		0, 0, 0,
	}, ppChannel0(got))

	// Odd padding: 4x5 image cropped to 7x5: pad 3 rows, image at top pad
	// ceil(3/2) = 2; crop top = (4-7)//2 = -2 -> 0 after adding the pad.
	got = centerCrop(src, 7, 5)
	require.Equal(t, 7, got.Height)
	require.Equal(t, uint8(0), got.At(0, 1, 0))
	require.Equal(t, uint8(1), got.At(0, 2, 0))
	require.Equal(t, uint8(20), got.At(4, 5, 0))
	require.Equal(t, uint8(0), got.At(4, 6, 0))
}

func ppChannel0(m *RGBImage) []uint8 {
	out := make([]uint8, m.Width*m.Height)
	for i := range out {
		out[i] = m.Pix[i*3]
	}
	return out
}

// TestPadToSquare checks LLaVA's expand2square: mean colour int(m*255),
// image pasted at (long-short)//2.
func TestPadToSquare(t *testing.T) {
	require.Equal(t, [3]uint8{122, 116, 104}, padColor(openAICLIPMean()))
	src := NewRGBImage(4, 1)
	for i := range src.Pix {
		src.Pix[i] = 200
	}
	sq := expandToSquare(src, [3]uint8{1, 2, 3})
	require.Equal(t, 4, sq.Width)
	require.Equal(t, 4, sq.Height)
	// rows 0 and 2,3 background, row 1 = image ((4-1)//2 = 1)
	require.Equal(t, []uint8{1, 1, 200, 1}, []uint8{sq.At(0, 0, 0), sq.At(3, 0, 0), sq.At(2, 1, 0), sq.At(0, 3, 0)})
	require.Equal(t, uint8(3), sq.At(0, 3, 2))

	// With do_pad_to_square the CLIP output of a constant image is the
	// normalised constant everywhere except the normalised pad colour.
	c := DefaultCLIPPreprocessorConfig()
	c.Size = SizeDict{ShortestEdge: 4}
	c.CropSize = SizeDict{Height: 4, Width: 4}
	c.DoPadToSquare = true
	img := image.NewGray(image.Rect(0, 0, 4, 2))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	pv, err := c.Preprocess(img)
	require.NoError(t, err)
	require.Equal(t, []int{3, 4, 4}, pv.Shape)
	// Row 0 is background (image pasted at row 1 of the 4x4 square).
	wantBG := (float32(float64(122)/255) - float32(0.48145466)) / float32(0.26862954)
	wantFG := (float32(float64(255)/255) - float32(0.48145466)) / float32(0.26862954)
	require.Equal(t, wantBG, pv.Data[0])
	require.Equal(t, wantFG, pv.Data[4*1+0])
}

// TestToPixelValuesDtypes checks HF's dtype sequence on a value where the
// float64 rescale then float32 cast matters: x = float32(u*(1/255)).
func TestToPixelValuesDtypes(t *testing.T) {
	src := NewRGBImage(1, 1)
	src.Pix[0], src.Pix[1], src.Pix[2] = 0, 128, 255
	pv := toPixelValues(src, true, 1.0/255, true, []float64{0.5, 0.5, 0.5}, []float64{0.5, 0.5, 0.5})
	x128 := float32(float64(128) * (1.0 / 255)) // numpy: uint8 -> float64 * scale -> float32
	require.Equal(t, []float32{-1, (x128 - 0.5) / 0.5, 1}, pv.Data)
	pv = toPixelValues(src, false, 0, false, nil, nil)
	require.Equal(t, []float32{0, 128, 255}, pv.Data)
}

func TestPreprocessBatchErrors(t *testing.T) {
	c := DefaultCLIPPreprocessorConfig()
	_, err := c.PreprocessBatch(nil)
	require.Error(t, err)
	_, err = c.Preprocess(nil)
	require.Error(t, err)
	// Without crop, shortest-edge outputs of different aspect cannot stack.
	c.DoCenterCrop = false
	c.Size = SizeDict{ShortestEdge: 8}
	_, err = c.PreprocessBatch([]image.Image{image.NewGray(image.Rect(0, 0, 8, 8)), image.NewGray(image.Rect(0, 0, 16, 8))})
	require.ErrorContains(t, err, "image 1")
}
