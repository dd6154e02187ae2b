package backend

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Llama3Scaling holds the rope_scaling parameters of rope_type "llama3".
type Llama3Scaling struct {
	Factor         float64
	LowFreqFactor  float64
	HighFreqFactor float64
	OriginalMaxPos int
}

// RoPE holds the inverse frequencies of rotary position embeddings for one
// head width, and a cache of their cosines and sines. InvFreq is fixed
// after NewRoPE; the cache grows on demand (see Table) and a RoPE is safe
// for concurrent use. Do not copy a RoPE after first use; share the
// pointer.
type RoPE struct {
	// InvFreq [Dh/2]: angle of pair i at position p is p·InvFreq[i].
	InvFreq []float32

	// table caches cos/sin of positions [0, n); readers load it without
	// locking, growers hold mu and publish a new, larger table.
	table atomic.Pointer[RopeTable]
	mu    sync.Mutex
}

// ropeTableMin is the smallest cached table (positions), so that short
// prompts followed by decode steps do not regrow it every few tokens.
const ropeTableMin = 256

// RopeTable holds cos and sin of the positions [0, N), row p at
// [p·Dh/2, (p+1)·Dh/2) of each, exactly as CosSin computes them. A table
// is immutable once published.
type RopeTable struct {
	N        int
	Cos, Sin []float32 // [N, Dh/2]
}

// Row returns cos and sin [Dh/2] of position p (0 ≤ p < N).
func (t *RopeTable) Row(p int) (cos, sin []float32) {
	half := len(t.Cos) / t.N
	return t.Cos[p*half : (p+1)*half], t.Sin[p*half : (p+1)*half]
}

// Table returns a cached table covering positions [0, n) (at least). The
// first call past the cached range builds a larger table (doubling, from
// ropeTableMin) under a lock, copying the rows already computed; later
// calls are a single atomic load.
func (r *RoPE) Table(n int) *RopeTable {
	if t := r.table.Load(); t != nil && t.N >= n {
		return t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if old != nil && old.N >= n {
		return old
	}
	size := max(n, ropeTableMin)
	from := 0
	if old != nil {
		size = max(size, 2*old.N)
		from = old.N
	}
	half := len(r.InvFreq)
	t := &RopeTable{N: size, Cos: make([]float32, size*half), Sin: make([]float32, size*half)}
	if old != nil {
		copy(t.Cos, old.Cos)
		copy(t.Sin, old.Sin)
	}
	parallelFor(size-from, half*costExp, func(lo, hi int) {
		for p := from + lo; p < from+hi; p++ {
			r.CosSin(p, t.Cos[p*half:(p+1)*half], t.Sin[p*half:(p+1)*half])
		}
	})
	r.table.Store(t)
	return t
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
