package vision

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// rowImage builds a width×1 image whose three channels all hold v.
func rowImage(v ...uint8) *RGBImage {
	m := NewRGBImage(len(v), 1)
	for i, x := range v {
		m.Pix[i*3], m.Pix[i*3+1], m.Pix[i*3+2] = x, x, x
	}
	return m
}

func randomImage(rng *rand.Rand, w, h int) *RGBImage {
	m := NewRGBImage(w, h)
	for i := range m.Pix {
		m.Pix[i] = uint8(rng.Intn(256))
	}
	return m
}

var allFilters = []Resample{ResampleBilinear, ResampleBicubic, ResampleBox, ResampleHamming, ResampleLanczos}

func TestResizeIdentityIsCopy(t *testing.T) {
	src := randomImage(rand.New(rand.NewSource(1)), 7, 5)
	for _, f := range allFilters {
		got, err := ResizeRGB(src, 7, 5, f)
		require.NoError(t, err)
		require.Equal(t, src.Pix, got.Pix)
		got.Pix[0]++
		require.NotEqual(t, src.Pix[0], got.Pix[0], "must be a copy")
	}
}

func TestResizeConstantStaysConstant(t *testing.T) {
	src := NewRGBImage(16, 12)
	for i := 0; i < len(src.Pix); i += 3 {
		src.Pix[i], src.Pix[i+1], src.Pix[i+2] = 37, 128, 250
	}
	for _, f := range allFilters {
		for _, size := range [][2]int{{8, 6}, {5, 3}, {32, 24}, {16, 7}, {3, 12}} {
			got, err := ResizeRGB(src, size[0], size[1], f)
			require.NoError(t, err)
			for i := 0; i < len(got.Pix); i += 3 {
				require.Equal(t, []uint8{37, 128, 250}, got.Pix[i:i+3], "%v %v", f, size)
			}
		}
	}
}

// TestResizeHandComputed1D checks Pillow's arithmetic on cases worked out
// by hand (see comments): support widened by the scale when reducing,
// window bounds, normalisation, fixed point and floor after +0.5.
func TestResizeHandComputed1D(t *testing.T) {
	// Bilinear 4 -> 2: scale 2, support 2. Output 0: center 1, taps 0..2 with
	// triangle((x-1+.5)/2) = .75,.75,.25 -> 3/7,3/7,1/7: (0*3+100*3+200)/7
	// = 71.43 -> 71. Output 1: center 3, taps 1..3 -> 1/7,3/7,3/7:
	// (100+600+765)/7 = 209.29 -> 209.
	got, err := ResizeRGB(rowImage(0, 100, 200, 255), 2, 1, ResampleBilinear)
	require.NoError(t, err)
	require.Equal(t, rowImage(71, 209).Pix, got.Pix)

	// Bicubic (a=-0.5) 2 -> 4: scale .5, support 2. Output 0: center .25,
	// taps k(.25)=.8671875, k(1.25)=-.0703125 -> normalised 1.0882, -.0882:
	// 108.82-17.65 = 91.18 -> 91. Output 1: center .75, k(-.25), k(.75) =
	// .8671875, .2265625 -> .792857, .207143: 79.29+41.43 = 120.71 -> 121.
	// Outputs 2, 3 mirror: 179.29 -> 179, 208.82 -> 209.
	got, err = ResizeRGB(rowImage(100, 200), 4, 1, ResampleBicubic)
	require.NoError(t, err)
	require.Equal(t, rowImage(91, 121, 179, 209).Pix, got.Pix)

	// Negative lobes clip to 0 and 255: 0,255 upscaled bicubic -> output 0
	// is 255*-.0882 < 0 -> 0, output 3 is 255*1.088 > 255 -> 255.
	got, err = ResizeRGB(rowImage(0, 255), 4, 1, ResampleBicubic)
	require.NoError(t, err)
	require.Equal(t, uint8(0), got.Pix[0])
	require.Equal(t, uint8(255), got.Pix[9])

	// Vertical axis uses the same weights: a 1x4 column gives the same values.
	col := NewRGBImage(1, 4)
	copy(col.Pix, rowImage(0, 100, 200, 255).Pix)
	got, err = ResizeRGB(col, 1, 2, ResampleBilinear)
	require.NoError(t, err)
	require.Equal(t, rowImage(71, 209).Pix, got.Pix)
}

// TestResizeRoundsAfterEachPass: Pillow rounds to uint8 after the
// horizontal pass. Box 2x2 [[0,1],[1,2]] -> 1x1: rows give floor(0.5+0.5)=1
// and floor(1.5+0.5)=2, then the column floor(1.5+0.5) = 2. A single 2-D
// pass would give floor(1.0+0.5) = 1.
func TestResizeRoundsAfterEachPass(t *testing.T) {
	src := NewRGBImage(2, 2)
	copy(src.Pix, []uint8{0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2})
	got, err := ResizeRGB(src, 1, 1, ResampleBox)
	require.NoError(t, err)
	require.Equal(t, []uint8{2, 2, 2}, got.Pix)
}

// TestResizeMatchesReferenceTwin compares the fast resampler with the plain
// twin on random images for up-, down- and mixed scaling.
func TestResizeMatchesReferenceTwin(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	sizes := [][4]int{
		{48, 40, 38, 32}, {40, 48, 32, 38}, {17, 13, 40, 9}, {5, 5, 64, 64},
		{100, 3, 7, 30}, {31, 29, 31, 10}, {31, 29, 8, 29}, {1, 1, 5, 4}, {64, 64, 1, 1},
	}
	for _, f := range allFilters {
		for _, s := range sizes {
			src := randomImage(rng, s[0], s[1])
			fast, err := ResizeRGB(src, s[2], s[3], f)
			require.NoError(t, err)
			ref, err := resizeRGBReference(src, s[2], s[3], f)
			require.NoError(t, err)
			require.Equal(t, ref.Pix, fast.Pix, "%v %v", f, s)
			require.Equal(t, [2]int{s[2], s[3]}, [2]int{fast.Width, fast.Height})
		}
	}
}

func TestResizeErrors(t *testing.T) {
	src := NewRGBImage(4, 4)
	_, err := ResizeRGB(src, 2, 2, ResampleNearest)
	require.ErrorContains(t, err, "NEAREST")
	_, err = ResizeRGB(src, 0, 2, ResampleBilinear)
	require.Error(t, err)
	_, err = ResizeRGB(NewRGBImage(0, 3), 2, 2, ResampleBilinear)
	require.Error(t, err)
	_, err = ResizeRGB(src, 2, 2, Resample(9))
	require.Error(t, err)
}

func BenchmarkResize1024To336Bicubic(b *testing.B) {
	src := randomImage(rand.New(rand.NewSource(3)), 1024, 768)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ResizeRGB(src, 448, 336, ResampleBicubic); err != nil {
			b.Fatal(err)
		}
	}
}
