package vision

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"testing"
)

// fuzzMaxPixels keeps each fuzz input cheap: images whose header declares
// more pixels are only decoded by the header check (DecodeConfig), which
// is where the decompression-bomb limits live.
const fuzzMaxPixels = 1 << 16

// FuzzDecodePreprocess decodes arbitrary bytes as an image and runs both
// image processors on what decodes: no panic, and every output is a
// finite tensor of the shape the processor promises.
func FuzzDecodePreprocess(f *testing.F) {
	enc := func(fn func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 7, 3))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i * 37)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 5, 9), color.Palette{color.Black, color.White})
	f.Add(enc(func(b *bytes.Buffer) error { return png.Encode(b, rgba) }))
	f.Add(enc(func(b *bytes.Buffer) error { return png.Encode(b, image.NewGray(image.Rect(0, 0, 300, 1))) }))
	f.Add(enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, rgba, nil) }))
	f.Add(enc(func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) }))
	if data, err := os.ReadFile("../testdata/llava_tiny/image.png"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	clip := DefaultCLIPPreprocessorConfig()
	clip.Size, clip.CropSize = SizeDict{ShortestEdge: 32}, SizeDict{Height: 32, Width: 32}
	padded := *clip
	padded.DoPadToSquare, padded.DoCenterCrop, padded.Size = true, false, SizeDict{Height: 16, Width: 24}
	ml := DefaultMllamaPreprocessorConfig()
	ml.Size, ml.MaxImageTiles = SizeDict{Height: 16, Width: 16}, 4
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width*cfg.Height > fuzzMaxPixels {
			return
		}
		img, err := DecodeImage(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for _, pc := range []*CLIPPreprocessorConfig{clip, &padded} {
			pv, err := pc.Preprocess(img)
			if err != nil {
				continue
			}
			checkFinite(t, pv.Data)
			if pc == clip && (pv.Shape[1] != 32 || pv.Shape[2] != 32) {
				t.Fatalf("CLIP output %v, want [3, 32, 32]", pv.Shape)
			}
		}
		out, err := ml.Preprocess([][]image.Image{{img}})
		if err != nil {
			return
		}
		checkFinite(t, out.PixelValues.Data)
		if n := out.NumTiles[0][0]; n < 1 || n > 4 || out.AspectRatioIDs[0][0] < 1 {
			t.Fatalf("Mllama tiles %d, aspect ratio id %d", n, out.AspectRatioIDs[0][0])
		}
	})
}

func checkFinite(t *testing.T, data []float32) {
	t.Helper()
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("pixel value %d is %v", i, v)
		}
	}
}

// fuzzMaxSide keeps FuzzPreprocessorConfig's outputs small; larger sizes
// are valid (up to config.MaxImageSize) but slow to fuzz.
const fuzzMaxSide = 256

// FuzzPreprocessorConfig parses arbitrary preprocessor_config.json bytes
// and runs what loads on a small image: no panic, and a config that
// validates never produces a NaN or Inf (the float32 overflow checks).
func FuzzPreprocessorConfig(f *testing.F) {
	for _, js := range []string{
		`{"image_processor_type":"CLIPImageProcessor","size":{"shortest_edge":32},"crop_size":{"height":32,"width":32}}`,
		`{"image_processor_type":"CLIPImageProcessor","size":24,"crop_size":20,"do_pad_to_square":true,"resample":2}`,
		`{"image_processor_type":"CLIPImageProcessor","size":{"height":16,"width":40},"do_center_crop":false,"rescale_factor":1e30,"image_std":[1e-30,1,1]}`,
		`{"image_processor_type":"CLIPImageProcessor","image_std":[1e-300,0.5,0.5],"rescale_factor":1e300}`,
		`{"image_processor_type":"MllamaImageProcessor","size":{"height":16,"width":16},"max_image_tiles":4}`,
		`{"image_processor_type":"MllamaImageProcessor","size":{"height":20000,"width":20000},"image_mean":[1e38,0,0]}`,
		`{"feature_extractor_type":"CLIPFeatureExtractor","do_normalize":false,"do_rescale":false}`,
	} {
		f.Add([]byte(js), uint8(7), uint8(3))
	}
	f.Fuzz(func(t *testing.T, js []byte, w, h uint8) {
		pc, err := ParsePreprocessorConfig(js)
		if err != nil {
			return
		}
		img := image.NewRGBA(image.Rect(0, 0, int(w)+1, int(h)+1))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 101)
		}
		switch c := pc.(type) {
		case *CLIPPreprocessorConfig:
			if max(c.Size.ShortestEdge, c.Size.Height, c.Size.Width, c.CropSize.Height, c.CropSize.Width) > fuzzMaxSide {
				return
			}
			if pv, err := c.Preprocess(img); err == nil {
				checkFinite(t, pv.Data)
			}
		case *MllamaPreprocessorConfig:
			if c.Size.Height > fuzzMaxSide || c.MaxImageTiles > 8 {
				return
			}
			if out, err := c.Preprocess([][]image.Image{{img}}); err == nil {
				checkFinite(t, out.PixelValues.Data)
			}
		}
	})
}
