package vision

import (
	"encoding/json"
	"fmt"
	"math"
)

// Resample names a Pillow resampling filter. The integer values are
// Pillow's (PIL.Image.Resampling) and are what preprocessor_config.json
// stores under "resample".
//
// Why not golang.org/x/image/draw: its kernels are evaluated in float32 on
// premultiplied 16-bit colour with a different support rule and a single
// rounding at the end, so results differ from Pillow by up to several levels
// per pixel — far outside the 1e-4 tolerance after normalisation. HF calls
// PIL.Image.resize, so the arithmetic of Pillow 9.4 libImaging/Resample.c is
// reproduced here step by step instead.
type Resample int

// Pillow resampling filters.
const (
	ResampleNearest  Resample = 0
	ResampleLanczos  Resample = 1
	ResampleBilinear Resample = 2
	ResampleBicubic  Resample = 3
	ResampleBox      Resample = 4
	ResampleHamming  Resample = 5
)

// String returns Pillow's name of the filter.
func (r Resample) String() string {
	switch r {
	case ResampleNearest:
		return "NEAREST"
	case ResampleLanczos:
		return "LANCZOS"
	case ResampleBilinear:
		return "BILINEAR"
	case ResampleBicubic:
		return "BICUBIC"
	case ResampleBox:
		return "BOX"
	case ResampleHamming:
		return "HAMMING"
	}
	return fmt.Sprintf("Resample(%d)", int(r))
}

// UnmarshalJSON accepts Pillow's integer code.
func (r *Resample) UnmarshalJSON(b []byte) error {
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("resample: want a Pillow filter number 0..5, got %s", string(b))
	}
	*r = Resample(v)
	return nil
}

// Fixed-point and filter constants of Pillow's Resample.c.
const (
	// precisionBits: 8 bits for the result, 2 bits of headroom for filters
	// whose coefficients sum above 1 or have negative lobes (32-8-2).
	precisionBits = 32 - 8 - 2
	// bicubicA is the "a" of the Keys cubic kernel used by Pillow.
	bicubicA = -0.5
	// Filter supports (radius in input pixels at scale 1).
	boxSupport      = 0.5
	bilinearSupport = 1.0
	hammingSupport  = 1.0
	bicubicSupport  = 2.0
	lanczosSupport  = 3.0
	// Hamming window weights: Pillow writes them as float literals (0.54f).
	hammingAlpha = float64(float32(0.54))
	hammingBeta  = float64(float32(0.46))
	// lanczosLobes is the truncation of the Lanczos sinc window.
	lanczosLobes = 3.0
)

// resampleFilter is a separable kernel and its support at scale 1.
type resampleFilter struct {
	fn      func(x float64) float64
	support float64
}

// Products are wrapped in float64() so the compiler may not fuse them into
// FMA instructions (the Go spec allows fusion; Pillow's x86-64 builds
// round each operation).
func boxKernel(x float64) float64 {
	if x > -boxSupport && x <= boxSupport {
		return 1
	}
	return 0
}

func bilinearKernel(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func hammingKernel(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x = float64(x * math.Pi)
	return float64(math.Sin(x)/x) * (hammingAlpha + float64(hammingBeta*math.Cos(x)))
}

func bicubicKernel(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		p := float64(float64((bicubicA+2)*x) - (bicubicA + 3))
		return float64(float64(p*x)*x) + 1
	}
	if x < 2 {
		p := float64(float64(float64(float64(x-5)*x)+8)*x) - 4
		return float64(p * bicubicA)
	}
	return 0
}

func sincKernel(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = float64(x * math.Pi)
	return math.Sin(x) / x
}

func lanczosKernel(x float64) float64 {
	if -lanczosLobes <= x && x < lanczosLobes {
		return float64(sincKernel(x) * sincKernel(x/lanczosLobes))
	}
	return 0
}

// filterFor returns the kernel of a Pillow filter; NEAREST goes through a
// different (affine) path in Pillow and is not supported.
func filterFor(r Resample) (resampleFilter, error) {
	switch r {
	case ResampleBox:
		return resampleFilter{boxKernel, boxSupport}, nil
	case ResampleBilinear:
		return resampleFilter{bilinearKernel, bilinearSupport}, nil
	case ResampleHamming:
		return resampleFilter{hammingKernel, hammingSupport}, nil
	case ResampleBicubic:
		return resampleFilter{bicubicKernel, bicubicSupport}, nil
	case ResampleLanczos:
		return resampleFilter{lanczosKernel, lanczosSupport}, nil
	}
	return resampleFilter{}, fmt.Errorf("vision: resample filter %v is not supported (use BILINEAR=2, BICUBIC=3, BOX=4, HAMMING=5 or LANCZOS=1)", r)
}

// coeffs holds, for every output position along one axis, the first input
// index (start), the number of taps (n) and ksize fixed-point weights.
type coeffs struct {
	ksize int
	start []int
	n     []int
	k     []int32 // [outSize*ksize]
}

// precomputeCoeffs mirrors Pillow's precompute_coeffs followed by
// normalize_coeffs_8bpc for a full-range box (0, inSize):
//
//	scale = in/out; filterscale = max(scale, 1) (antialiasing when reducing)
//	support = filter.support * filterscale; ksize = 2*ceil(support)+1
//	center = (xx+0.5)*scale; xmin = int(center-support+0.5) clamped at 0,
//	xmax = int(center+support+0.5) clamped at inSize
//	w[x] = filter((x+xmin-center+0.5)/filterscale), normalised by their sum
//	then each weight -> int(±0.5 + w*2^22) (round half away from zero).
func precomputeCoeffs(inSize, outSize int, f resampleFilter) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := float64(f.support * filterscale)
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{ksize: ksize, start: make([]int, outSize), n: make([]int, outSize), k: make([]int32, outSize*ksize)}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := f.fn(float64((float64(x+xmin) - center + 0.5) * ss))
			w[x] = v
			ww += v
		}
		k := c.k[xx*ksize : (xx+1)*ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			k[x] = toFixed(v)
		}
		c.start[xx], c.n[xx] = xmin, xmax
	}
	return c
}

// toFixed converts a weight to Pillow's 8bpc fixed point.
func toFixed(v float64) int32 {
	const one = 1 << precisionBits
	if v < 0 {
		return int32(-0.5 + float64(v*one))
	}
	return int32(0.5 + float64(v*one))
}

// clip8 is Pillow's clip8: drop the fraction bits (arithmetic shift, i.e.
// floor) and saturate to [0, 255].
func clip8(ss int32) uint8 {
	v := ss >> precisionBits
	if v < 0 {
		return 0
	}
	if v > maxUint8 {
		return maxUint8
	}
	return uint8(v)
}

// roundHalf is the initial accumulator value: 0.5 in fixed point.
const roundHalf = int32(1) << (precisionBits - 1)

// ResizeRGB resizes src to width×height exactly like Pillow 9.4
// Image.resize(size, resample) on a mode "RGB" image (reducing_gap=None,
// default box): separable, horizontal pass first (only over the rows the
// vertical pass will read), then vertical; each pass accumulates 8-bit
// samples times 22-bit fixed-point weights in int32 and rounds/clips back to
// uint8. A pass whose size does not change is skipped; same size returns a
// copy.
func ResizeRGB(src *RGBImage, width, height int, filter Resample) (*RGBImage, error) {
	f, err := filterFor(filter)
	if err != nil {
		return nil, err
	}
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("vision: resize %dx%d -> %dx%d: target size must be positive", src.Width, src.Height, width, height)
	}
	if src.Width <= 0 || src.Height <= 0 {
		return nil, fmt.Errorf("vision: resize: empty source image %dx%d", src.Width, src.Height)
	}
	needH := width != src.Width
	needV := height != src.Height
	if !needH && !needV {
		return src.Clone(), nil
	}
	ch := precomputeCoeffs(src.Width, width, f)
	cv := precomputeCoeffs(src.Height, height, f)
	cur := src
	if needH {
		first := cv.start[0]
		last := cv.start[height-1] + cv.n[height-1]
		if !needV {
			first, last = 0, src.Height
		}
		cur = resampleHorizontal(src, first, last, width, ch)
		if needV {
			for i := range cv.start {
				cv.start[i] -= first
			}
		}
	}
	if needV {
		cur = resampleVertical(cur, height, cv)
	}
	return cur, nil
}

// resampleHorizontal resamples rows [rowFirst, rowLast) of src to width
// columns. Result: [rowLast-rowFirst, width, 3].
func resampleHorizontal(src *RGBImage, rowFirst, rowLast, width int, c coeffs) *RGBImage {
	out := NewRGBImage(width, rowLast-rowFirst)
	for yy := 0; yy < out.Height; yy++ {
		in := src.Pix[(yy+rowFirst)*src.Width*rgbChannels : (yy+rowFirst+1)*src.Width*rgbChannels]
		o := out.Pix[yy*width*rgbChannels : (yy+1)*width*rgbChannels]
		for xx := 0; xx < width; xx++ {
			n := c.n[xx]
			k := c.k[xx*c.ksize : xx*c.ksize+n]
			p := in[c.start[xx]*rgbChannels : (c.start[xx]+n)*rgbChannels]
			s0, s1, s2 := roundHalf, roundHalf, roundHalf
			for _, kv := range k {
				s0 += int32(p[0]) * kv
				s1 += int32(p[1]) * kv
				s2 += int32(p[2]) * kv
				p = p[rgbChannels:]
			}
			o[xx*rgbChannels], o[xx*rgbChannels+1], o[xx*rgbChannels+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	return out
}

// resampleVertical resamples src to height rows (c.start relative to src).
// Result: [height, src.Width, 3].
func resampleVertical(src *RGBImage, height int, c coeffs) *RGBImage {
	w := src.Width
	rowLen := w * rgbChannels
	out := NewRGBImage(w, height)
	acc := make([]int32, rowLen)
	for yy := 0; yy < height; yy++ {
		for i := range acc {
			acc[i] = roundHalf
		}
		k := c.k[yy*c.ksize : yy*c.ksize+c.n[yy]]
		for y, kv := range k {
			row := src.Pix[(c.start[yy]+y)*rowLen : (c.start[yy]+y+1)*rowLen]
			for i, v := range row {
				acc[i] += int32(v) * kv
			}
		}
		o := out.Pix[yy*rowLen : (yy+1)*rowLen]
		for i, s := range acc {
			o[i] = clip8(s)
		}
	}
	return out
}
