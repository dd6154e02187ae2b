package backend

import (
	"fmt"
	"math"
)

// Llama3Scaling holds the rope_scaling parameters of rope_type "llama3".
type Llama3Scaling struct {
	Factor         float64
	LowFreqFactor  float64
	HighFreqFactor float64
	OriginalMaxPos int
}

// RoPE holds the inverse frequencies of rotary position embeddings for one
// head width. It is immutable after NewRoPE and safe to share.
type RoPE struct {
	// InvFreq [Dh/2]: angle of pair i at position p is p·InvFreq[i].
	InvFreq []float32
}

// NewRoPE computes inverse frequencies as HF's ROPE_INIT_FUNCTIONS do, in
// float32 like the reference: inv_freq[i] = 1 / theta^(2i/Dh), then, for
// llama3 scaling, low frequencies divided by factor and the band between
// the two wavelength thresholds smoothly interpolated
// (_compute_llama3_parameters).
func NewRoPE(headDim int, theta float64, llama3 *Llama3Scaling) (*RoPE, error) {
	if headDim <= 0 || headDim%2 != 0 {
		return nil, fmt.Errorf("rope: head width %d must be positive and even", headDim)
	}
	if theta <= 0 {
		return nil, fmt.Errorf("rope: rope_theta %g must be positive", theta)
	}
	half := headDim / 2
	inv := make([]float32, half)
	for i := range inv {
		// torch: base ** (arange(0, dim, 2).float() / dim), all float32.
		e := float32(2*i) / float32(headDim)
		inv[i] = float32(1 / float32(math.Pow(theta, float64(e))))
	}
	if llama3 != nil {
		s := llama3
		if s.Factor <= 0 || s.OriginalMaxPos <= 0 || s.HighFreqFactor <= s.LowFreqFactor {
			return nil, fmt.Errorf("rope: invalid llama3 scaling %+v", *s)
		}
		old := float32(s.OriginalMaxPos)
		lowWavelen := old / float32(s.LowFreqFactor)
		highWavelen := old / float32(s.HighFreqFactor)
		factor := float32(s.Factor)
		for i, f := range inv {
			wavelen := float32(2*math.Pi) / f
			scaled := f
			if wavelen > lowWavelen {
				scaled = f / factor
			}
			if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
				smooth := (old/wavelen - float32(s.LowFreqFactor)) / float32(s.HighFreqFactor-s.LowFreqFactor)
				scaled = (1-smooth)*scaled/factor + smooth*scaled
			}
			inv[i] = scaled
		}
	}
	return &RoPE{InvFreq: inv}, nil
}

// CosSin fills cos and sin [Dh/2] for position pos. The angle is formed in
// float32 (as HF's float32 matmul of inv_freq and positions) and its cosine
// rounded to float32.
func (r *RoPE) CosSin(pos int, cos, sin []float32) {
	for i, f := range r.InvFreq {
		a := float64(float32(pos) * f)
		cos[i] = float32(math.Cos(a))
		sin[i] = float32(math.Sin(a))
	}
}

// ApplyRoPE rotates one head vector x [Dh] in place (rotate_half
// convention): for i < Dh/2,
//
//	x'[i]      = x[i]·cos[i] − x[i+Dh/2]·sin[i]
//	x'[i+Dh/2] = x[i+Dh/2]·cos[i] + x[i]·sin[i]
func ApplyRoPE(x, cos, sin []float32) {
	half := len(cos)
	for i := 0; i < half; i++ {
		a, b := x[i], x[i+half]
		x[i] = a*cos[i] - b*sin[i]
		x[i+half] = b*cos[i] + a*sin[i]
	}
}
