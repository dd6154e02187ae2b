package vision

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"

	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/fsx"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// PreprocessorConfigFile is the file name HF uses for image processors.
const PreprocessorConfigFile = "preprocessor_config.json"

// MaxPreprocessorConfigBytes caps preprocessor_config.json (real ones are
// under a KiB).
const MaxPreprocessorConfigBytes = 1 << 20

// Image processor type names (image_processor_type / feature_extractor_type).
const (
	CLIPImageProcessorType   = "CLIPImageProcessor"
	clipFeatureExtractorType = "CLIPFeatureExtractor"
	MllamaImageProcessorType = "MllamaImageProcessor"
)

// HF default statistics (transformers image_utils), returned as fresh
// slices so that no caller can alter another caller's defaults.
func openAICLIPMean() []float64       { return []float64{0.48145466, 0.4578275, 0.40821073} }
func openAICLIPStd() []float64        { return []float64{0.26862954, 0.26130258, 0.27577711} }
func imagenetStandardMean() []float64 { return []float64{0.5, 0.5, 0.5} }
func imagenetStandardStd() []float64  { return []float64{0.5, 0.5, 0.5} }

const (
	defaultRescaleFactor = 1.0 / 255
	defaultCLIPSize      = 224
	defaultMllamaSize    = 224
	defaultMllamaTiles   = 4
	// padColorScale turns a [0,1] mean into the 0..255 pad colour of LLaVA's
	// expand2square (tuple(int(x*255) for x in image_mean)).
	padColorScale = 255
)

// SizeDict is HF's size / crop_size dictionary. HF also accepts a bare
// integer (legacy configs); it is kept in Scalar and interpreted by the
// owning config (CLIP size -> shortest_edge, crop_size -> square).
type SizeDict struct {
	ShortestEdge int `json:"shortest_edge,omitempty"`
	Height       int `json:"height,omitempty"`
	Width        int `json:"width,omitempty"`
	Scalar       int `json:"-"`
}

// UnmarshalJSON accepts either an object or a bare integer.
func (s *SizeDict) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*s = SizeDict{Scalar: n}
		return nil
	}
	type plain SizeDict
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("size: want an integer or {shortest_edge | height, width}, got %s", string(b))
	}
	*s = SizeDict(p)
	return nil
}

// PreprocessorConfig is either a *CLIPPreprocessorConfig or a
// *MllamaPreprocessorConfig, as returned by LoadPreprocessorConfig.
type PreprocessorConfig interface {
	// ProcessorType is the HF image_processor_type.
	ProcessorType() string
	// Validate reports a config that cannot be used.
	Validate() error
}

// LoadPreprocessorConfig reads dir/preprocessor_config.json and returns the
// processor named by its image_processor_type, validated.
func LoadPreprocessorConfig(dir string) (PreprocessorConfig, error) {
	path := filepath.Join(dir, PreprocessorConfigFile)
	data, err := fsx.ReadFile(path, MaxPreprocessorConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("vision: read preprocessor config: %w", err)
	}
	cfg, err := ParsePreprocessorConfig(data)
	if err != nil {
		return nil, fmt.Errorf("vision: %s: %w", path, err)
	}
	return cfg, nil
}

// ParsePreprocessorConfig parses preprocessor_config.json contents,
// dispatching on image_processor_type (or legacy feature_extractor_type).
func ParsePreprocessorConfig(data []byte) (PreprocessorConfig, error) {
	var head struct {
		ImageProcessorType   string `json:"image_processor_type"`
		FeatureExtractorType string `json:"feature_extractor_type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("parse preprocessor config: %w", err)
	}
	typ := head.ImageProcessorType
	if typ == "" {
		typ = head.FeatureExtractorType
	}
	var cfg PreprocessorConfig
	switch typ {
	case CLIPImageProcessorType, clipFeatureExtractorType:
		c := DefaultCLIPPreprocessorConfig()
		if err := json.Unmarshal(data, c); err != nil {
			return nil, fmt.Errorf("parse CLIP preprocessor config: %w", err)
		}
		c.normalizeSizes()
		cfg = c
	case MllamaImageProcessorType:
		c := DefaultMllamaPreprocessorConfig()
		if err := json.Unmarshal(data, c); err != nil {
			return nil, fmt.Errorf("parse Mllama preprocessor config: %w", err)
		}
		cfg = c
	case "":
		return nil, errors.New("preprocessor config has no image_processor_type")
	default:
		return nil, fmt.Errorf("unsupported image_processor_type %q (want %s or %s)", typ, CLIPImageProcessorType, MllamaImageProcessorType)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// CLIPPreprocessorConfig is HF's CLIPImageProcessor configuration (also
// used by LLaVA). DoPadToSquare is not an HF key of CLIPImageProcessor: it
// enables original LLaVA's expand2square (pad to a square with the mean
// colour before everything else).
type CLIPPreprocessorConfig struct {
	ImageProcessorType string    `json:"image_processor_type"`
	DoResize           bool      `json:"do_resize"`
	Size               SizeDict  `json:"size"`
	Resample           Resample  `json:"resample"`
	DoCenterCrop       bool      `json:"do_center_crop"`
	CropSize           SizeDict  `json:"crop_size"`
	DoRescale          bool      `json:"do_rescale"`
	RescaleFactor      float64   `json:"rescale_factor"`
	DoNormalize        bool      `json:"do_normalize"`
	ImageMean          []float64 `json:"image_mean"`
	ImageStd           []float64 `json:"image_std"`
	DoConvertRGB       bool      `json:"do_convert_rgb"`
	DoPadToSquare      bool      `json:"do_pad_to_square"`
}

// DefaultCLIPPreprocessorConfig returns HF's CLIPImageProcessor defaults
// (keys absent from a config file keep these values).
func DefaultCLIPPreprocessorConfig() *CLIPPreprocessorConfig {
	return &CLIPPreprocessorConfig{
		ImageProcessorType: CLIPImageProcessorType,
		DoResize:           true,
		Size:               SizeDict{ShortestEdge: defaultCLIPSize},
		Resample:           ResampleBicubic,
		DoCenterCrop:       true,
		CropSize:           SizeDict{Height: defaultCLIPSize, Width: defaultCLIPSize},
		DoRescale:          true,
		RescaleFactor:      defaultRescaleFactor,
		DoNormalize:        true,
		ImageMean:          openAICLIPMean(),
		ImageStd:           openAICLIPStd(),
		DoConvertRGB:       true,
	}
}

// normalizeSizes applies HF get_size_dict to legacy integer sizes.
func (c *CLIPPreprocessorConfig) normalizeSizes() {
	if c.Size.Scalar > 0 {
		c.Size = SizeDict{ShortestEdge: c.Size.Scalar}
	}
	if c.CropSize.Scalar > 0 {
		c.CropSize = SizeDict{Height: c.CropSize.Scalar, Width: c.CropSize.Scalar}
	}
}

// ProcessorType implements PreprocessorConfig.
func (c *CLIPPreprocessorConfig) ProcessorType() string { return CLIPImageProcessorType }

// CheckTower reports a config whose output size is not the tower's
// image_size: the first image would otherwise be preprocessed (at that
// size) only to be refused by the tower.
func (c *CLIPPreprocessorConfig) CheckTower(vc *CLIPConfig) error {
	c.normalizeSizes()
	h, w := c.CropSize.Height, c.CropSize.Width
	key := "crop_size"
	if !c.DoCenterCrop {
		h, w, key = c.Size.Height, c.Size.Width, "size"
		if c.Size.ShortestEdge > 0 {
			h, w, key = c.Size.ShortestEdge, c.Size.ShortestEdge, "size.shortest_edge"
		}
	}
	if h != vc.ImageSize || w != vc.ImageSize {
		return fmt.Errorf("%s: %s gives %dx%d pixel values, but the vision tower's image_size is %d",
			PreprocessorConfigFile, key, w, h, vc.ImageSize)
	}
	return nil
}

// Validate checks sizes, filter and normalisation statistics.
func (c *CLIPPreprocessorConfig) Validate() error {
	c.normalizeSizes()
	if c.DoResize {
		if c.Size.ShortestEdge <= 0 && (c.Size.Height <= 0 || c.Size.Width <= 0) {
			return fmt.Errorf("CLIP preprocessor: size must have a positive shortest_edge or height and width, got %+v", c.Size)
		}
		if _, err := filterFor(c.Resample); err != nil {
			return err
		}
	}
	if c.DoCenterCrop && (c.CropSize.Height <= 0 || c.CropSize.Width <= 0) {
		return fmt.Errorf("CLIP preprocessor: crop_size must have positive height and width, got %+v", c.CropSize)
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"size.shortest_edge", c.Size.ShortestEdge}, {"size.height", c.Size.Height}, {"size.width", c.Size.Width},
		{"crop_size.height", c.CropSize.Height}, {"crop_size.width", c.CropSize.Width}} {
		if v.n > config.MaxImageSize {
			return fmt.Errorf("CLIP preprocessor: %s %d exceeds the maximum %d", v.key, v.n, config.MaxImageSize)
		}
	}
	return validateRescaleNormalize("CLIP", c.DoRescale, c.RescaleFactor, c.DoNormalize, c.ImageMean, c.ImageStd)
}

// validateRescaleNormalize checks the float stage shared by both
// processors, in the float32 arithmetic it runs in: rescale_factor must
// keep 255·factor a positive finite float32, and image_mean/image_std must
// be finite float32 values with (x − mean)/std finite for every pixel x.
func validateRescaleNormalize(who string, doRescale bool, factor float64, doNormalize bool, mean, std []float64) error {
	xmax := float64(maxUint8)
	if doRescale {
		if !(factor > 0) || math.IsInf(factor, 0) || !finite32(float64(maxUint8)*factor) || float32(factor) == 0 {
			return fmt.Errorf("%s preprocessor: rescale_factor %v must be positive with 255·rescale_factor a finite float32 (limit %g)",
				who, factor, math.MaxFloat32/maxUint8)
		}
		xmax = float64(float32(float64(maxUint8) * factor))
	}
	if doNormalize {
		if len(mean) != rgbChannels || len(std) != rgbChannels {
			return fmt.Errorf("%s preprocessor: image_mean and image_std need %d values, got %d and %d", who, rgbChannels, len(mean), len(std))
		}
		for i := range rgbChannels {
			m, s := float32(mean[i]), float32(std[i])
			if !finite32(mean[i]) {
				return fmt.Errorf("%s preprocessor: image_mean[%d] = %v is not a finite float32", who, i, mean[i])
			}
			if s == 0 || !finite32(std[i]) {
				return fmt.Errorf("%s preprocessor: image_std[%d] = %v is zero or not finite as a float32", who, i, std[i])
			}
			worst := max(math.Abs(float64(m)), math.Abs(xmax-float64(m))) / math.Abs(float64(s))
			if !finite32(worst) {
				return fmt.Errorf("%s preprocessor: image_std[%d] = %v makes (pixel − image_mean)/image_std reach %g, past float32's %g",
					who, i, std[i], worst, math.MaxFloat32)
			}
		}
	}
	return nil
}

// finite32 reports whether v is finite once rounded to float32.
func finite32(v float64) bool {
	f := float32(v)
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// checkResizeTarget bounds a resize output before it is allocated.
func checkResizeTarget(who string, srcW, srcH, w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("vision: %s preprocess: image %dx%d resizes to an empty %dx%d", who, srcW, srcH, w, h)
	}
	if w > MaxImageSide || h > MaxImageSide || int64(w)*int64(h) > MaxImagePixels {
		return fmt.Errorf("%w: %s preprocess: image %dx%d would resize to %dx%d, past MaxImageSide=%d or MaxImagePixels=%d",
			ErrImageTooLarge, who, srcW, srcH, w, h, MaxImageSide, MaxImagePixels)
	}
	return nil
}

// Preprocess turns one image into CLIP pixel values [3, H, W].
func (c *CLIPPreprocessorConfig) Preprocess(img image.Image) (*Tensor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := checkInputImage(img); err != nil {
		return nil, fmt.Errorf("vision: CLIP preprocess: %w", err)
	}
	rgb := ToRGB(img)
	if c.DoPadToSquare {
		rgb = expandToSquare(rgb, padColor(c.ImageMean))
	}
	if c.DoResize {
		h, w := c.resizeOutputSize(rgb.Height, rgb.Width)
		if err := checkResizeTarget("CLIP", rgb.Width, rgb.Height, w, h); err != nil {
			return nil, err
		}
		var err error
		if rgb, err = ResizeRGB(rgb, w, h, c.Resample); err != nil {
			return nil, err
		}
	}
	if c.DoCenterCrop {
		rgb = centerCrop(rgb, c.CropSize.Height, c.CropSize.Width)
	}
	return toPixelValues(rgb, c.DoRescale, c.RescaleFactor, c.DoNormalize, c.ImageMean, c.ImageStd), nil
}

// PreprocessBatch stacks Preprocess of every image: [N, 3, H, W]. All
// outputs must have the same size (true whenever center crop is on or size
// is {height, width}).
func (c *CLIPPreprocessorConfig) PreprocessBatch(imgs []image.Image) (*Tensor, error) {
	if len(imgs) == 0 {
		return nil, errors.New("vision: CLIP preprocess batch: no images")
	}
	var out *tensor.Tensor
	for i, img := range imgs {
		pv, err := c.Preprocess(img)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		if out == nil {
			out = tensor.New(append([]int{len(imgs)}, pv.Shape...)...) // [N, 3, H, W]
		} else if !tensor.SameShape(pv.Shape, out.Shape[1:]) {
			return nil, fmt.Errorf("vision: CLIP preprocess batch: image %d gives %v, image 0 gave %v", i, pv.Shape, out.Shape[1:])
		}
		copy(out.Row(i).Data, pv.Data)
	}
	return out, nil
}

// resizeOutputSize is HF get_resize_output_image_size: for shortest_edge
// the long side becomes int(short_target * long / short) (float division,
// truncated); for {height, width} the size is used as is. Returns (h, w).
func (c *CLIPPreprocessorConfig) resizeOutputSize(height, width int) (int, int) {
	if c.Size.ShortestEdge <= 0 {
		return c.Size.Height, c.Size.Width
	}
	target := c.Size.ShortestEdge
	short, long := height, width
	if width <= height {
		short, long = width, height
	}
	newLong := int(float64(target) * float64(long) / float64(short))
	if width <= height {
		return newLong, target
	}
	return target, newLong
}

// floorDiv is Python's // for ints (rounds toward minus infinity).
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// centerCrop is HF image_transforms.center_crop on a uint8 image: offsets
// (H-h)//2, (W-w)//2; when the crop is larger than the image it is first
// zero-padded to max sizes with the image at ceil(diff/2).
func centerCrop(src *RGBImage, cropH, cropW int) *RGBImage {
	top := floorDiv(src.Height-cropH, 2)
	left := floorDiv(src.Width-cropW, 2)
	if top >= 0 && left >= 0 && top+cropH <= src.Height && left+cropW <= src.Width {
		out := NewRGBImage(cropW, cropH)
		for y := 0; y < cropH; y++ {
			copy(out.Pix[y*cropW*rgbChannels:(y+1)*cropW*rgbChannels],
				src.Pix[((top+y)*src.Width+left)*rgbChannels:((top+y)*src.Width+left+cropW)*rgbChannels])
		}
		return out
	}
	newH, newW := max(cropH, src.Height), max(cropW, src.Width)
	topPad := (newH - src.Height + 1) / 2 // ceil of a non-negative half
	leftPad := (newW - src.Width + 1) / 2
	padded := pasteOnto(NewRGBImage(newW, newH), src, leftPad, topPad)
	top += topPad
	left += leftPad
	y0, y1 := max(0, top), min(newH, top+cropH)
	x0, x1 := max(0, left), min(newW, left+cropW)
	out := NewRGBImage(x1-x0, y1-y0)
	for y := y0; y < y1; y++ {
		copy(out.Pix[(y-y0)*out.Width*rgbChannels:(y-y0+1)*out.Width*rgbChannels],
			padded.Pix[(y*newW+x0)*rgbChannels:(y*newW+x1)*rgbChannels])
	}
	return out
}

// pasteOnto copies src into dst with its top-left corner at (x0, y0).
func pasteOnto(dst, src *RGBImage, x0, y0 int) *RGBImage {
	for y := 0; y < src.Height; y++ {
		copy(dst.Pix[((y+y0)*dst.Width+x0)*rgbChannels:((y+y0)*dst.Width+x0+src.Width)*rgbChannels],
			src.Pix[y*src.Width*rgbChannels:(y+1)*src.Width*rgbChannels])
	}
	return dst
}

// padColor is LLaVA's background colour tuple(int(x*255) for x in mean).
func padColor(mean []float64) [rgbChannels]uint8 {
	var c [rgbChannels]uint8
	for i := 0; i < rgbChannels && i < len(mean); i++ {
		v := int(mean[i] * padColorScale)
		c[i] = uint8(max(0, min(maxUint8, v)))
	}
	return c
}

// expandToSquare is original LLaVA's expand2square: a square canvas of the
// longer side filled with bg, the image pasted centred along the short
// axis at offset (long-short)//2.
func expandToSquare(src *RGBImage, bg [rgbChannels]uint8) *RGBImage {
	if src.Width == src.Height {
		return src
	}
	side := max(src.Width, src.Height)
	dst := NewRGBImage(side, side)
	for i := 0; i < len(dst.Pix); i += rgbChannels {
		dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2] = bg[0], bg[1], bg[2]
	}
	if src.Width > src.Height {
		return pasteOnto(dst, src, 0, (src.Width-src.Height)/2)
	}
	return pasteOnto(dst, src, (src.Height-src.Width)/2, 0)
}

// toPixelValues converts a uint8 HWC image to float32 CHW [3, H, W] with
// HF's dtypes: rescale in float64 then cast to float32 (rescale()), then
// normalise in float32 with float32 mean/std (normalize()). Without
// rescale the uint8 values are cast to float32 directly.
func toPixelValues(src *RGBImage, doRescale bool, factor float64, doNormalize bool, mean, std []float64) *Tensor {
	h, w := src.Height, src.Width
	out := tensor.New(rgbChannels, h, w) // [3, H, W]
	for c := 0; c < rgbChannels; c++ {
		var m, s float32
		if doNormalize {
			m, s = float32(mean[c]), float32(std[c])
		}
		plane := out.Data[c*h*w : (c+1)*h*w]
		for i := range plane {
			u := src.Pix[i*rgbChannels+c]
			var x float32
			if doRescale {
				x = float32(float64(u) * factor)
			} else {
				x = float32(u)
			}
			if doNormalize {
				x = float32(x-m) / s
			}
			plane[i] = x
		}
	}
	return out
}
