package vision

import "math"

// resizeRGBReference is the plain twin of ResizeRGB that tests compare
// against: one output sample at a time, one channel at a time, weights
// recomputed for every sample, horizontal pass over ALL rows (Pillow only
// computes the rows the vertical pass needs; the values are the same), and
// both passes always run (an unchanged axis has identity weights, which
// Pillow's pass-skipping relies on).
func resizeRGBReference(src *RGBImage, width, height int, filter Resample) (*RGBImage, error) {
	f, err := filterFor(filter)
	if err != nil {
		return nil, err
	}
	if width == src.Width && height == src.Height {
		return src.Clone(), nil
	}
	tmp := NewRGBImage(width, src.Height)
	for y := 0; y < src.Height; y++ {
		for xx := 0; xx < width; xx++ {
			start, weights := referenceWeights(src.Width, width, xx, f)
			for c := 0; c < rgbChannels; c++ {
				acc := int64(1) << (precisionBits - 1)
				for i, w := range weights {
					acc += int64(src.At(start+i, y, c)) * int64(w)
				}
				tmp.Pix[(y*width+xx)*rgbChannels+c] = referenceClip(acc)
			}
		}
	}
	out := NewRGBImage(width, height)
	for yy := 0; yy < height; yy++ {
		start, weights := referenceWeights(src.Height, height, yy, f)
		for x := 0; x < width; x++ {
			for c := 0; c < rgbChannels; c++ {
				acc := int64(1) << (precisionBits - 1)
				for i, w := range weights {
					acc += int64(tmp.At(x, start+i, c)) * int64(w)
				}
				out.Pix[(yy*width+x)*rgbChannels+c] = referenceClip(acc)
			}
		}
	}
	return out, nil
}

// referenceWeights returns the first input index and the fixed-point
// weights of output sample o when resampling in -> out samples.
func referenceWeights(in, out, o int, f resampleFilter) (int, []int64) {
	scale := float64(in) / float64(out)
	filterscale := math.Max(scale, 1)
	support := float64(f.support * filterscale)
	center := float64((float64(o) + 0.5) * scale)
	lo := int(center - support + 0.5)
	if lo < 0 {
		lo = 0
	}
	hi := int(center + support + 0.5)
	if hi > in {
		hi = in
	}
	inv := 1 / filterscale // Pillow multiplies by the reciprocal
	raw := make([]float64, 0, hi-lo)
	sum := 0.0
	for x := lo; x < hi; x++ {
		w := f.fn(float64((float64(x) - center + 0.5) * inv))
		raw = append(raw, w)
		sum += w
	}
	fixed := make([]int64, len(raw))
	for i, w := range raw {
		if sum != 0 {
			w /= sum
		}
		scaled := float64(w * (1 << precisionBits))
		if w < 0 {
			fixed[i] = int64(scaled - 0.5)
		} else {
			fixed[i] = int64(scaled + 0.5)
		}
	}
	return lo, fixed
}

// referenceClip is floor(acc / 2^22) saturated to [0, 255].
func referenceClip(acc int64) uint8 {
	v := math.Floor(float64(acc) / (1 << precisionBits))
	return uint8(math.Max(0, math.Min(maxUint8, v)))
}
