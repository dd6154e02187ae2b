package vision

import (
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// maxSupportedImageTiles bounds max_image_tiles: the supported-ratio list
// grows as n·log n and the pixel tensor as n tiles per image; real Mllama
// checkpoints use 4.
const maxSupportedImageTiles = 64

// MllamaPreprocessorConfig is HF's MllamaImageProcessor configuration.
type MllamaPreprocessorConfig struct {
	ImageProcessorType string    `json:"image_processor_type"`
	DoConvertRGB       bool      `json:"do_convert_rgb"`
	DoResize           bool      `json:"do_resize"`
	Size               SizeDict  `json:"size"`
	Resample           Resample  `json:"resample"`
	DoRescale          bool      `json:"do_rescale"`
	RescaleFactor      float64   `json:"rescale_factor"`
	DoNormalize        bool      `json:"do_normalize"`
	ImageMean          []float64 `json:"image_mean"`
	ImageStd           []float64 `json:"image_std"`
	DoPad              bool      `json:"do_pad"`
	MaxImageTiles      int       `json:"max_image_tiles"`
}

// DefaultMllamaPreprocessorConfig returns HF's MllamaImageProcessor
// defaults (224 tiles, bilinear, ImageNet-standard mean/std, 4 tiles).
func DefaultMllamaPreprocessorConfig() *MllamaPreprocessorConfig {
	return &MllamaPreprocessorConfig{
		ImageProcessorType: MllamaImageProcessorType,
		DoConvertRGB:       true,
		DoResize:           true,
		Size:               SizeDict{Height: defaultMllamaSize, Width: defaultMllamaSize},
		Resample:           ResampleBilinear,
		DoRescale:          true,
		RescaleFactor:      defaultRescaleFactor,
		DoNormalize:        true,
		ImageMean:          imagenetStandardMean(),
		ImageStd:           imagenetStandardStd(),
		DoPad:              true,
		MaxImageTiles:      defaultMllamaTiles,
	}
}

// ProcessorType implements PreprocessorConfig.
func (c *MllamaPreprocessorConfig) ProcessorType() string { return MllamaImageProcessorType }

// CheckTower reports a tile size that is not the tower's image_size.
func (c *MllamaPreprocessorConfig) CheckTower(vc *MllamaConfig) error {
	if c.Size.Height != vc.ImageSize || c.Size.Width != vc.ImageSize {
		return fmt.Errorf("%s: size %dx%d is not the vision tower's image_size %d",
			PreprocessorConfigFile, c.Size.Width, c.Size.Height, vc.ImageSize)
	}
	return nil
}

// Validate applies HF's validate_mllama_preprocess_arguments: do_pad and
// do_resize must be on, size square, max_image_tiles positive.
func (c *MllamaPreprocessorConfig) Validate() error {
	if !c.DoPad {
		return errors.New("Mllama preprocessor: do_pad=false is not supported (HF refuses it too)")
	}
	if !c.DoResize {
		return errors.New("Mllama preprocessor: do_resize=false is not supported (HF refuses it too)")
	}
	if c.MaxImageTiles <= 0 || c.MaxImageTiles > maxSupportedImageTiles {
		return fmt.Errorf("Mllama preprocessor: max_image_tiles must be in 1..%d, got %d", maxSupportedImageTiles, c.MaxImageTiles)
	}
	if c.Size.Height <= 0 || c.Size.Height != c.Size.Width {
		return fmt.Errorf("Mllama preprocessor: size must have equal positive height and width, got %+v", c.Size)
	}
	if c.Size.Height > config.MaxImageSize {
		return fmt.Errorf("Mllama preprocessor: size.height %d exceeds the maximum %d", c.Size.Height, config.MaxImageSize)
	}
	if _, err := filterFor(c.Resample); err != nil {
		return err
	}
	return validateRescaleNormalize("Mllama", c.DoRescale, c.RescaleFactor, c.DoNormalize, c.ImageMean, c.ImageStd)
}

// MllamaImages is the output of MllamaPreprocessorConfig.Preprocess, laid
// out as HF's BatchFeature.
type MllamaImages struct {
	PixelValues     *Tensor   // [B, N, maxTiles, 3, S, S]; missing tiles/images are 0
	AspectRatioIDs  [][]int   // [B][N]; 1-based index into SupportedAspectRatios, 0 = no image
	AspectRatioMask [][][]int // [B][N][maxTiles]; 1 = real tile (tile 0 always 1)
	NumTiles        [][]int   // [B][images of sample b]; not padded
}

// TileArrangement is a tile grid. HF documents the pairs of
// get_all_supported_aspect_ratios as (width, height), but every consumer
// (canvas size, split, id lookup) uses the first entry as the number of
// tile ROWS; this type names them by that actual use.
type TileArrangement struct {
	Rows, Cols int
}

// SupportedAspectRatios is HF get_all_supported_aspect_ratios: every
// (a, b) with a*b <= maxTiles, a outer, b inner, both ascending. The order
// defines aspect ratio ids (index + 1).
func SupportedAspectRatios(maxTiles int) []TileArrangement {
	var out []TileArrangement
	for a := 1; a <= maxTiles; a++ {
		for b := 1; b <= maxTiles; b++ {
			if a*b <= maxTiles {
				out = append(out, TileArrangement{Rows: a, Cols: b})
			}
		}
	}
	return out
}

// OptimalTiledCanvas is HF get_optimal_tiled_canvas: for each supported
// arrangement the canvas is (Rows*tile, Cols*tile) and its scale the
// smaller of canvasH/h and canvasW/w (float64). The smallest scale >= 1 is
// chosen if any (least upscaling), else the largest scale < 1 (least
// downscaling); among canvases with exactly that scale the one with the
// smallest area wins, the first on ties. Returns the arrangement.
func OptimalTiledCanvas(height, width, maxTiles, tile int) (TileArrangement, error) {
	if height <= 0 || width <= 0 || maxTiles <= 0 || tile <= 0 {
		return TileArrangement{}, fmt.Errorf("vision: tiled canvas: invalid image %dx%d, max tiles %d, tile %d", width, height, maxTiles, tile)
	}
	cands := SupportedAspectRatios(maxTiles)
	scales := make([]float64, len(cands))
	for i, a := range cands {
		sh := float64(a.Rows*tile) / float64(height)
		sw := float64(a.Cols*tile) / float64(width)
		scales[i] = sw
		if sw > sh {
			scales[i] = sh
		}
	}
	selected, haveUp := math.Inf(1), false
	for _, s := range scales {
		if s >= 1 && s < selected {
			selected, haveUp = s, true
		}
	}
	if !haveUp {
		selected = math.Inf(-1)
		for _, s := range scales {
			if s < 1 && s > selected {
				selected = s
			}
		}
	}
	best, bestArea := -1, 0
	for i, a := range cands {
		if scales[i] != selected {
			continue
		}
		area := a.Rows * tile * a.Cols * tile
		if best < 0 || area < bestArea {
			best, bestArea = i, area
		}
	}
	return cands[best], nil
}

// ImageSizeFitToCanvas is HF get_image_size_fit_to_canvas: the target side
// lengths are the image's clipped to [tile, canvas]; the limiting side takes
// its target and the other floor(side * scale) (float64), capped at its
// target. Returns (height, width).
func ImageSizeFitToCanvas(height, width, canvasH, canvasW, tile int) (int, int) {
	targetW := min(max(width, tile), canvasW)
	targetH := min(max(height, tile), canvasH)
	scaleH := float64(targetH) / float64(height)
	scaleW := float64(targetW) / float64(width)
	if scaleW < scaleH {
		return min(int(math.Floor(float64(float64(height)*scaleW))), targetH), targetW
	}
	return targetH, min(int(math.Floor(float64(float64(width)*scaleH))), targetW)
}

// Preprocess runs MllamaImageProcessor on a batch: images[b] are the
// images of sample b (samples may hold different counts; at least one image
// overall).
func (c *MllamaPreprocessorConfig) Preprocess(images [][]image.Image) (*MllamaImages, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, errors.New("vision: Mllama preprocess: empty batch")
	}
	maxImages := 0
	for _, s := range images {
		maxImages = max(maxImages, len(s))
	}
	if maxImages == 0 {
		return nil, errors.New("vision: Mllama preprocess: no images in any sample")
	}
	bsz, tiles, side := len(images), c.MaxImageTiles, c.Size.Height
	if px := int64(tiles) * int64(side) * int64(side); px > MaxImagePixels {
		return nil, fmt.Errorf("%w: Mllama preprocess: max_image_tiles %d of size %d×%d make %d pixels per image, past MaxImagePixels=%d",
			ErrImageTooLarge, tiles, side, side, px, MaxImagePixels)
	}
	supported := SupportedAspectRatios(tiles)
	tileLen := rgbChannels * side * side
	out := &MllamaImages{
		PixelValues:     tensor.New(bsz, maxImages, tiles, rgbChannels, side, side), // [B, N, T, 3, S, S]
		AspectRatioIDs:  make([][]int, bsz),
		AspectRatioMask: make([][][]int, bsz),
		NumTiles:        make([][]int, bsz),
	}
	for b, sample := range images {
		out.AspectRatioIDs[b] = make([]int, maxImages)
		out.AspectRatioMask[b] = make([][]int, maxImages)
		out.NumTiles[b] = make([]int, len(sample))
		for n := 0; n < maxImages; n++ {
			out.AspectRatioMask[b][n] = make([]int, tiles)
			out.AspectRatioMask[b][n][0] = 1 // HF sets tile 0 for every slot
		}
		for n, img := range sample {
			tilesData, arr, err := c.preprocessOne(img)
			if err != nil {
				return nil, fmt.Errorf("vision: Mllama preprocess: sample %d image %d: %w", b, n, err)
			}
			k := arr.Rows * arr.Cols
			off := ((b*maxImages+n)*tiles + 0) * tileLen
			copy(out.PixelValues.Data[off:off+k*tileLen], tilesData)
			out.NumTiles[b][n] = k
			for i, a := range supported {
				if a == arr {
					out.AspectRatioIDs[b][n] = i + 1
				}
			}
			for t := 0; t < k; t++ {
				out.AspectRatioMask[b][n][t] = 1
			}
		}
	}
	return out, nil
}

// preprocessOne resizes, pads, normalises and tiles one image. Returns the
// tiles as [k, 3, S, S] data and the arrangement.
func (c *MllamaPreprocessorConfig) preprocessOne(img image.Image) ([]float32, TileArrangement, error) {
	if err := checkInputImage(img); err != nil {
		return nil, TileArrangement{}, err
	}
	rgb := ToRGB(img)
	side := c.Size.Height
	arr, err := OptimalTiledCanvas(rgb.Height, rgb.Width, c.MaxImageTiles, side)
	if err != nil {
		return nil, TileArrangement{}, err
	}
	canvasH, canvasW := arr.Rows*side, arr.Cols*side
	newH, newW := ImageSizeFitToCanvas(rgb.Height, rgb.Width, canvasH, canvasW, side)
	if newH <= 0 || newW <= 0 {
		return nil, TileArrangement{}, fmt.Errorf("image %dx%d is too elongated: it fits the %dx%d canvas as %dx%d",
			rgb.Width, rgb.Height, canvasW, canvasH, newW, newH)
	}
	if err := checkResizeTarget("Mllama", rgb.Width, rgb.Height, canvasW, canvasH); err != nil {
		return nil, TileArrangement{}, err
	}
	resized, err := ResizeRGB(rgb, newW, newH, c.Resample)
	if err != nil {
		return nil, TileArrangement{}, err
	}
	canvas := pasteOnto(NewRGBImage(canvasW, canvasH), resized, 0, 0)                                 // zero pad bottom/right
	pv := toPixelValues(canvas, c.DoRescale, c.RescaleFactor, c.DoNormalize, c.ImageMean, c.ImageStd) // [3, Hc, Wc]
	return splitToTiles(pv.Data, canvasH, canvasW, arr, side), arr, nil
}

// splitToTiles is HF split_to_tiles: [3, R*S, C*S] -> [R*C, 3, S, S], tile
// index r*C + c (row-major over the grid).
func splitToTiles(chw []float32, h, w int, arr TileArrangement, side int) []float32 {
	out := make([]float32, len(chw))
	i := 0
	for r := 0; r < arr.Rows; r++ {
		for col := 0; col < arr.Cols; col++ {
			for ch := 0; ch < rgbChannels; ch++ {
				for y := 0; y < side; y++ {
					src := chw[ch*h*w+(r*side+y)*w+col*side:]
					i += copy(out[i:i+side], src[:side])
				}
			}
		}
	}
	return out
}
