package graph

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
)

// ---- RoPE: input x [B, H, T, Dh]; positions and frequencies are parameters ----

type ropeK struct {
	pos      []int
	invFreq  []float32
	cos, sin []float32 // [T, Dh/2], from backend.RoPE.CosSin
}

func newRoPEK(pos []int, r *backend.RoPE) ropeK {
	half := len(r.InvFreq)
	k := ropeK{
		pos:     append([]int(nil), pos...),
		invFreq: append([]float32(nil), r.InvFreq...),
		cos:     make([]float32, len(pos)*half),
		sin:     make([]float32, len(pos)*half),
	}
	for i, p := range pos {
		r.CosSin(p, k.cos[i*half:(i+1)*half], k.sin[i*half:(i+1)*half])
	}
	return k
}

// name includes every position and every frequency: two RoPE nodes on the
// same input merge only when they rotate identically.
func (k ropeK) name() string { return fmt.Sprintf("RoPE{pos=%v,invFreq=%v}", k.pos, k.invFreq) }
func (k ropeK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) != 4 || x[2] != len(k.pos) || x[3] != 2*len(k.invFreq) {
		return nil, fmt.Errorf("x %v, %d positions, %d frequencies", x, len(k.pos), len(k.invFreq))
	}
	return x.Clone(), nil
}
func (ropeK) diffWRT() []bool { return []bool{true} }
func (k ropeK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		ropeApply(buf[float64](out), data[float64](in[0]), k.cos, k.sin, len(k.invFreq), 1)
		return
	}
	// float32: the eager kernel itself.
	y := buf[float32](out)
	copy(y, data[float32](in[0]))
	half := len(k.invFreq)
	t := len(k.pos)
	for off := 0; off < len(y); off += 2 * half {
		i := (off / (2 * half)) % t
		backend.ApplyRoPE(y[off:off+2*half], k.cos[i*half:(i+1)*half], k.sin[i*half:(i+1)*half])
	}
}

// backward rotates by the opposite angle (the rotation's transpose).
func (k ropeK) backward(_ int, dx float64Or32, _ []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		ropeApply(buf[float64](dx), data[float64](dy), k.cos, k.sin, len(k.invFreq), -1)
	} else {
		ropeApply(buf[float32](dx), data[float32](dy), k.cos, k.sin, len(k.invFreq), -1)
	}
}

// ropeApply: y = rotate(x) with sin multiplied by sign (rotate_half
// convention); cos and sin are [T, half], x is [..., T, 2·half].
func ropeApply[F float](y, x []F, cos, sin []float32, half int, sign F) {
	copy(y, x)
	t := len(cos) / half
	for off := 0; off < len(y); off += 2 * half {
		i := (off / (2 * half)) % t
		c, s := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
		for j := 0; j < half; j++ {
			a, b := y[off+j], y[off+j+half]
			sn := sign * F(s[j])
			y[off+j] = a*F(c[j]) - b*sn
			y[off+j+half] = b*F(c[j]) + a*sn
		}
	}
}
