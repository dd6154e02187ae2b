package graph

import (
	"fmt"
	"math"

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

// ---- attention scores: y = s·scale + mask, causal positions → −Inf ----

// scoresK post-processes raw q·kᵀ [B, H, Tq, Tk]. Inputs: s and, when
// hasMask, an additive mask [B or 1, H or 1, Tq, Tk] (not differentiated).
type scoresK struct {
	scale   float32
	causal  bool
	hasMask bool
}

func (k scoresK) name() string {
	return fmt.Sprintf("AttnScores{%x,%v,%v}", math.Float32bits(k.scale), k.causal, k.hasMask)
}
func (k scoresK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	s := in[0]
	if len(s) != 4 {
		return nil, fmt.Errorf("scores %v, want [B, H, Tq, Tk]", s)
	}
	if k.hasMask {
		// The mask broadcasts over B and H only.
		m := in[1]
		if out, err := broadcastShape(m, s); err != nil || !out.Eq(s) || len(m) != 4 || m[2] != s[2] || m[3] != s[3] {
			return nil, fmt.Errorf("mask %v for scores %v", m, s)
		}
	}
	return s.Clone(), nil
}
func (k scoresK) diffWRT() []bool {
	if k.hasMask {
		return []bool{true, false}
	}
	return []bool{true}
}
func (k scoresK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		scoresFwd(k, buf[float64](out), in)
	} else {
		scoresFwd(k, buf[float32](out), in)
	}
}
func scoresFwd[F float](k scoresK, y []F, in []gorgonia.Value) {
	s := in[0].Shape()
	b, h, tq, tk := s[0], s[1], s[2], s[3]
	x := data[F](in[0])
	var mask []F
	var mst []int // element strides of the mask seen through s (0 where it broadcasts)
	if k.hasMask {
		mask = data[F](in[1])
		mst = backend.BroadcastStrides(in[1].Shape(), s)
	}
	scale := F(k.scale)
	for bi := 0; bi < b; bi++ {
		for hd := 0; hd < h; hd++ {
			plane := ((bi*h + hd) * tq) * tk
			for i := 0; i < tq; i++ {
				row := y[plane+i*tk : plane+(i+1)*tk]
				src := x[plane+i*tk : plane+(i+1)*tk]
				for j, v := range src {
					row[j] = v * scale
				}
				if mask != nil {
					mrow := bi*mst[0] + hd*mst[1] + i*tk
					m := mask[mrow : mrow+tk]
					for j := range row {
						row[j] += m[j]
					}
				}
				if k.causal {
					for j := max(0, tk-tq+i+1); j < tk; j++ {
						row[j] = F(math.Inf(-1))
					}
				}
			}
		}
	}
}
func (k scoresK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	s := in[0].Shape()
	if is64(dx) {
		scoresBwd(k, buf[float64](dx), data[float64](dy), s[2], s[3])
	} else {
		scoresBwd(k, buf[float32](dx), data[float32](dy), s[2], s[3])
	}
}

// scoresBwd: dx = dy·scale, zero where the causal mask hid the score.
func scoresBwd[F float](k scoresK, dx, dy []F, tq, tk int) {
	scale := F(k.scale)
	for off := 0; off < len(dx); off += tk {
		i := (off / tk) % tq
		lim := tk
		if k.causal {
			lim = tk - tq + i + 1
		}
		for j := 0; j < tk; j++ {
			if j < lim {
				dx[off+j] = dy[off+j] * scale
			} else {
				dx[off+j] = 0
			}
		}
	}
}
