package vision

import (
	"image"
	"testing"

	"github.com/stretchr/testify/require"
)

func ppMllamaConfig(t *testing.T) *MllamaPreprocessorConfig {
	t.Helper()
	cfg, err := LoadPreprocessorConfig(ppTestdata("mllama_tiny"))
	require.NoError(t, err)
	return cfg.(*MllamaPreprocessorConfig)
}

func ppInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func TestMllamaPreprocessGolden(t *testing.T) {
	const dir = "mllama_tiny"
	c := ppMllamaConfig(t)
	for _, tc := range []struct {
		prefix, file string
		numTiles     int
	}{
		{"", "image.png", 2},
		{"sq.", "image_square.png", 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := c.Preprocess([][]image.Image{{ppLoadImage(t, dir, tc.file)}})
			require.NoError(t, err)
			want := ppGoldenF32(t, dir, tc.prefix+"pixel_values")
			d := ppMaxAbsDiff(t, want, got.PixelValues)
			t.Logf("%s pixel_values %v max|Δ| = %.3g", tc.file, got.PixelValues.Shape, d)
			require.LessOrEqual(t, d, ppTol)

			ids, idShape := ppGoldenI64(t, dir, tc.prefix+"aspect_ratio_ids")
			require.Equal(t, []int{1, 1}, idShape)
			require.Equal(t, ppInts(ids), got.AspectRatioIDs[0])
			mask, maskShape := ppGoldenI64(t, dir, tc.prefix+"aspect_ratio_mask")
			require.Equal(t, []int{1, 1, 2}, maskShape)
			require.Equal(t, ppInts(mask), got.AspectRatioMask[0][0])
			require.Equal(t, [][]int{{tc.numTiles}}, got.NumTiles)
		})
	}
}

func TestSupportedAspectRatios(t *testing.T) {
	// HF docstring example for 4 tiles, in HF order.
	want := []TileArrangement{{1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 1}, {2, 2}, {3, 1}, {4, 1}}
	require.Equal(t, want, SupportedAspectRatios(4))
	require.Equal(t, []TileArrangement{{1, 1}, {1, 2}, {2, 1}}, SupportedAspectRatios(2))
}

func TestOptimalTiledCanvas(t *testing.T) {
	for _, tc := range []struct {
		name              string
		h, w, tiles, tile int
		want              TileArrangement
	}{
		// 40x48 (h x w), tile 32: scales 0.667 (1x1), 0.8 (1x2), 0.667 (2x1):
		// no upscale, least downscale -> 1 row, 2 cols (README: canvas 32x64).
		{"golden", 40, 48, 2, 32, TileArrangement{1, 2}},
		// Square 40x40: 1x1 scale .8, 1x2 scale .8, 2x1 scale .8 -> smallest area 1x1.
		{"square tie by area", 40, 40, 2, 32, TileArrangement{1, 1}},
		// Small 10x10 image: every canvas allows upscaling; least upscale is
		// 3.2 (1x1, also 1x2/2x1...) -> smallest area 1x1.
		{"small upscale", 10, 10, 4, 32, TileArrangement{1, 1}},
		// Tall 100x30 with 4 tiles of 32: 3x1 scale min(96/100, 32/30)=.96,
		// 4x1 scale min(1.28, 1.067)=1.067 >= 1 -> upscale wins: 4x1.
		{"tall prefers upscale", 100, 30, 4, 32, TileArrangement{4, 1}},
		// Wide 224x448 with tile 224, 4 tiles: 1x2 scale exactly 1.0 (>= 1).
		{"exact fit", 224, 448, 4, 224, TileArrangement{1, 2}},
		// Big 1000x1000, 4 tiles of 224: 2x2 scale .448 is the largest <1.
		{"big downscale", 1000, 1000, 4, 224, TileArrangement{2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OptimalTiledCanvas(tc.h, tc.w, tc.tiles, tc.tile)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := OptimalTiledCanvas(0, 10, 4, 32)
	require.Error(t, err)
}

func TestImageSizeFitToCanvas(t *testing.T) {
	for _, tc := range []struct{ h, w, ch, cw, tile, wantH, wantW int }{
		{40, 48, 32, 64, 32, 32, 38},    // target (32, 48): scale_h .8 < scale_w 1 -> w=floor(48*.8)=38
		{40, 40, 32, 32, 32, 32, 32},    // both .8 -> else branch
		{10, 20, 64, 64, 32, 16, 32},    // upscale: targets (32, 32); scale_w 1.6 < scale_h 3.2 -> w=32, h=floor(10*1.6)=16
		{100, 30, 128, 32, 32, 100, 30}, // fits: targets are the image itself
		{1000, 1000, 448, 448, 224, 448, 448},
	} {
		h, w := ImageSizeFitToCanvas(tc.h, tc.w, tc.ch, tc.cw, tc.tile)
		require.Equal(t, [2]int{tc.wantH, tc.wantW}, [2]int{h, w}, "%+v", tc)
	}
}

// TestMllamaBatchPadding: sample 0 has two images, sample 1 one; the
// missing slot is all zeros with id 0 and mask [1, 0] (HF sets tile 0 of
// every slot), and each real image equals its single-image result.
func TestMllamaBatchPadding(t *testing.T) {
	const dir = "mllama_tiny"
	c := ppMllamaConfig(t)
	wide := ppLoadImage(t, dir, "image.png")
	square := ppLoadImage(t, dir, "image_square.png")
	got, err := c.Preprocess([][]image.Image{{wide, square}, {square}})
	require.NoError(t, err)
	require.Equal(t, []int{2, 2, 2, 3, 32, 32}, got.PixelValues.Shape)
	require.Equal(t, [][]int{{2, 1}, {1, 0}}, got.AspectRatioIDs)
	require.Equal(t, [][][]int{{{1, 1}, {1, 0}}, {{1, 0}, {1, 0}}}, got.AspectRatioMask)
	require.Equal(t, [][]int{{2, 1}, {1}}, got.NumTiles)

	wantWide := ppGoldenF32(t, dir, "pixel_values")      // [1,1,2,3,32,32]
	wantSquare := ppGoldenF32(t, dir, "sq.pixel_values") // tile 1 zero
	pv := got.PixelValues.Reshape(4, -1)                 // [B*N, T*3*S*S]
	require.Equal(t, wantWide.Data, pv.Row(0).Data)
	require.Equal(t, wantSquare.Data, pv.Row(1).Data)
	require.Equal(t, wantSquare.Data, pv.Row(2).Data)
	for _, v := range pv.Row(3).Data {
		require.Zero(t, v)
	}

	_, err = c.Preprocess(nil)
	require.Error(t, err)
	_, err = c.Preprocess([][]image.Image{{}, {}})
	require.Error(t, err)
	_, err = c.Preprocess([][]image.Image{{nil}})
	require.Error(t, err)
	// Too elongated to fit: 1 pixel high, 3000 wide, one 32-pixel tile.
	one := *c
	one.MaxImageTiles = 1
	_, err = one.Preprocess([][]image.Image{{image.NewGray(image.Rect(0, 0, 3000, 1))}})
	require.ErrorContains(t, err, "elongated")
}
