package graph

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
)

// Fused ops for the optional backend extensions (backend.HeadSplitter,
// backend.GatedActivator): one node where the plain ops would build a
// chain of reshape, transpose, RoPE or activation and product nodes.

var (
	_ backend.HeadSplitter   = (*Backend)(nil)
	_ backend.GatedActivator = (*Backend)(nil)
)

// chunk is the element count of one parallel task of the elementwise ops.
const chunk = 1 << 14

// eachChunk runs fn(lo, hi) over [0, n) in chunks, in parallel.
func eachChunk(th *budget, n int, fn func(lo, hi int)) {
	items := (n + chunk - 1) / chunk
	if items <= 1 {
		fn(0, n)
		return
	}
	blas.ParallelItems(items, th.workers(items), func(_, it int) {
		fn(it*chunk, min(n, (it+1)*chunk))
	})
}

// ---- head split with RoPE: x [B, T, N·Dh] → [B, N, T, Dh] ----

// splitHeadsK moves the heads out of the feature dim and, when rot is
// set, rotates each row at its position (rotate_half convention, the
// eager kernel blas.RotateHalf in float32). The gradient rotates back by
// −angle into the [B, T, N·Dh] layout.
type splitHeadsK struct {
	heads int
	rot   bool
	rope  ropeK // positions, frequencies, cos/sin [T, Dh/2]
	nsin  []float32
	th    *budget
}

func newSplitHeadsK(th *budget, heads int, pos []int, r *backend.RoPE) splitHeadsK {
	k := splitHeadsK{heads: heads, rot: r != nil, th: th}
	if r != nil {
		k.rope = newRoPEK(pos, r)
		k.nsin = make([]float32, len(k.rope.sin))
		for i, s := range k.rope.sin {
			k.nsin[i] = -s
		}
	}
	return k
}

func (k splitHeadsK) name() string {
	if !k.rot {
		return fmt.Sprintf("SplitHeads{%d}", k.heads)
	}
	return fmt.Sprintf("SplitHeadsRoPE{%d,%s}", k.heads, k.rope.name())
}
func (k splitHeadsK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) != 3 || k.heads <= 0 || x[2]%k.heads != 0 {
		return nil, fmt.Errorf("x %v, %d heads", x, k.heads)
	}
	dh := x[2] / k.heads
	if k.rot && (x[1] != len(k.rope.pos) || dh != 2*len(k.rope.invFreq)) {
		return nil, fmt.Errorf("x %v, %d heads, %d positions, %d frequencies", x, k.heads, len(k.rope.pos), len(k.rope.invFreq))
	}
	return tensor.Shape{x[0], k.heads, x[1], dh}, nil
}
func (splitHeadsK) diffWRT() []bool  { return []bool{true} }
func (splitHeadsK) overwrites() bool { return true }

func (k splitHeadsK) forward(out float64Or32, in []gorgonia.Value) {
	s := in[0].Shape()
	if is64(out) {
		splitHeadsRun(k, buf[float64](out), data[float64](in[0]), s, false)
	} else {
		splitHeadsRun(k, buf[float32](out), data[float32](in[0]), s, false)
	}
}
func (k splitHeadsK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	s := in[0].Shape()
	if is64(dx) {
		splitHeadsRun(k, buf[float64](dx), data[float64](dy), s, true)
	} else {
		splitHeadsRun(k, buf[float32](dx), data[float32](dy), s, true)
	}
}

// splitHeadsRun: forward maps x [B, T, N·Dh] to y [B, N, T, Dh];
// back maps dy [B, N, T, Dh] to dx [B, T, N·Dh] (rotation by −angle).
func splitHeadsRun[F float](k splitHeadsK, dst, src []F, xs tensor.Shape, back bool) {
	bs, t, width := xs[0], xs[1], xs[2]
	n := k.heads
	dh := width / n
	half := dh / 2
	blas.ParallelItems(bs*t, k.th.workers(bs*t), func(_, row int) { // row = b·T + i
		bi, i := row/t, row%t
		for h := 0; h < n; h++ {
			flat := row*width + h*dh       // [B, T, N·Dh]
			split := ((bi*n+h)*t + i) * dh // [B, N, T, Dh]
			from, to := flat, split
			if back {
				from, to = split, flat
			}
			d, s := dst[to:to+dh], src[from:from+dh]
			if !k.rot {
				copy(d, s)
				continue
			}
			cos, sin := k.rope.cos[i*half:(i+1)*half], k.rope.sin[i*half:(i+1)*half]
			if back {
				sin = k.nsin[i*half : (i+1)*half]
			}
			rotate(d, s, cos, sin)
		}
	})
}

// rotate writes the rotate_half rotation of x to dst: blas.RotateHalf
// (the eager kernel) in float32, the same formula in float64.
func rotate[F float](dst, x []F, cos, sin []float32) {
	if d32, ok := any(dst).([]float32); ok {
		blas.RotateHalf(d32, any(x).([]float32), cos, sin)
		return
	}
	half := len(cos)
	for j := 0; j < half; j++ {
		a, b := x[j], x[j+half]
		dst[j] = a*F(cos[j]) - b*F(sin[j])
		dst[j+half] = b*F(cos[j]) + a*F(sin[j])
	}
}

// SplitHeadsRoPE turns x [B, T, N·Dh] into [B, N, T, Dh], rotated at
// positions pos when r is non-nil (backend.HeadSplitter), in one op.
func (b *Backend) SplitHeadsRoPE(x backend.Value, heads int, pos []int, r *backend.RoPE) backend.Value {
	return apply(newSplitHeadsK(b.th, heads, pos, r), b.dt, b.Node(x))
}

// ---- gated activation: act(gate)·up ----

// gatedK is y = act(g)·u elementwise (the SwiGLU of a Llama MLP for
// SiLU): inputs g, u of one shape. Forward as Eager (ActivateInPlace,
// then the product); dg = dy·u·act'(g), du = dy·act(g). SiLU's
// derivative σ(g)·(1 + g·(1 − σ(g))) takes σ from blas's vector exp.
type gatedK struct {
	act backend.Act
	th  *budget
}

func (k gatedK) name() string { return fmt.Sprintf("GatedActivation{%d}", int(k.act)) }
func (gatedK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if !in[0].Eq(in[1]) {
		return nil, fmt.Errorf("gate %v, up %v", in[0], in[1])
	}
	return in[0].Clone(), nil
}
func (gatedK) diffWRT() []bool  { return []bool{true, true} }
func (gatedK) overwrites() bool { return true }
func (k gatedK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		y, g, u := buf[float64](out), data[float64](in[0]), data[float64](in[1])
		copy(y, g)
		activateRef(y, k.act)
		for i := range y {
			y[i] *= u[i]
		}
		return
	}
	y, g, u := buf[float32](out), data[float32](in[0]), data[float32](in[1])
	eachChunk(k.th, len(y), func(lo, hi int) {
		s := y[lo:hi]
		copy(s, g[lo:hi])
		backend.ActivateInPlace(s, k.act)
		for i, v := range u[lo:hi] {
			s[i] *= v
		}
	})
}
func (k gatedK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		d, g, u, gy := buf[float64](dx), data[float64](in[0]), data[float64](in[1]), data[float64](dy)
		if i == 1 {
			copy(d, g)
			activateRef(d, k.act)
			for j := range d {
				d[j] *= gy[j]
			}
			return
		}
		for j, v := range g {
			d[j] = gy[j] * u[j] * float64(activationDeriv(v, k.act))
		}
		return
	}
	d, g, u, gy := buf[float32](dx), data[float32](in[0]), data[float32](in[1]), data[float32](dy)
	eachChunk(k.th, len(d), func(lo, hi int) {
		if i == 1 {
			s := d[lo:hi]
			copy(s, g[lo:hi])
			backend.ActivateInPlace(s, k.act)
			for j, v := range gy[lo:hi] {
				s[j] *= v
			}
			return
		}
		actGrad32(d[lo:hi], g[lo:hi], gy[lo:hi], u[lo:hi], k.act)
	})
}

// actGrad32 writes dx = dy·act'(x) (·u when u is non-nil). SiLU uses the
// vector exp; other activations the float64 derivative.
func actGrad32(dx, x, dy, u []float32, act backend.Act) {
	if act != backend.ActSiLU {
		for j, v := range x {
			g := dy[j]
			if u != nil {
				g *= u[j]
			}
			dx[j] = float32(float64(g) * activationDeriv(float64(v), act))
		}
		return
	}
	for j, v := range x {
		dx[j] = -v
	}
	blas.ExpSub(dx, 0) // e^−x (0 below the float32 range, finite above)
	for j, v := range x {
		s := 1 / (1 + dx[j]) // σ(x)
		g := dy[j]
		if u != nil {
			g *= u[j]
		}
		dx[j] = g * s * (1 + v*(1-s))
	}
}

// GatedActivation is act(gate)·up in one op (backend.GatedActivator).
// When gate and up are the two halves of one LinearMulti product (the
// gate/up projection of a Llama MLP), the op reads that product directly,
// so its gradient is one buffer with both halves, not two zero-padded
// ones that gorgonia would add.
func (b *Backend) GatedActivation(gate, up backend.Value, act backend.Act) backend.Value {
	gn, un := b.Node(gate), b.Node(up)
	if y, ok := adjacentHalves(gn, un); ok {
		return apply(gatedPairK{act: act, th: b.th}, b.dt, y)
	}
	return apply(gatedK{act: act, th: b.th}, b.dt, gn, un)
}

// adjacentHalves reports the LinearMulti product whose columns [0, F)
// and [F, 2F) are gate and up.
func adjacentHalves(gate, up *gorgonia.Node) (*gorgonia.Node, bool) {
	g, ok1 := gate.Op().(*fwdOp)
	u, ok2 := up.Op().(*fwdOp)
	if !ok1 || !ok2 {
		return nil, false
	}
	gk, ok1 := g.k.(colSliceK)
	uk, ok2 := u.k.(colSliceK)
	if !ok1 || !ok2 || g.inputs[0] != u.inputs[0] || gk.lo != 0 || uk.lo != gk.hi || uk.hi != 2*gk.hi {
		return nil, false
	}
	y := g.inputs[0]
	if s := y.Shape(); s[len(s)-1] != uk.hi {
		return nil, false
	}
	return y, true
}

// gatedPairK is gatedK over one input [..., 2F] holding gate in columns
// [0, F) and up in [F, 2F): y = act(gate)·up [..., F]; the gradient
// [..., 2F] holds dgate and dup side by side.
type gatedPairK struct {
	act backend.Act
	th  *budget
}

func (k gatedPairK) name() string { return fmt.Sprintf("GatedPair{%d}", int(k.act)) }
func (gatedPairK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) == 0 || x[len(x)-1]%2 != 0 {
		return nil, fmt.Errorf("gate/up product %v", x)
	}
	return append(x[:len(x)-1].Clone(), x[len(x)-1]/2), nil
}
func (gatedPairK) diffWRT() []bool  { return []bool{true} }
func (gatedPairK) overwrites() bool { return true }
func (k gatedPairK) forward(out float64Or32, in []gorgonia.Value) {
	f := lastDim(in[0]) / 2
	if is64(out) {
		y, x := buf[float64](out), data[float64](in[0])
		for r := 0; r*f < len(y); r++ {
			row := y[r*f : (r+1)*f]
			copy(row, x[2*r*f:(2*r+1)*f])
			activateRef(row, k.act)
			for j, u := range x[(2*r+1)*f : (2*r+2)*f] {
				row[j] *= u
			}
		}
		return
	}
	y, x := buf[float32](out), data[float32](in[0])
	rows := len(y) / f
	blas.ParallelItems(rows, k.th.workers(rows), func(_, r int) {
		row := y[r*f : (r+1)*f]
		copy(row, x[2*r*f:(2*r+1)*f])
		backend.ActivateInPlace(row, k.act)
		for j, u := range x[(2*r+1)*f : (2*r+2)*f] {
			row[j] *= u
		}
	})
}
func (k gatedPairK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	f := lastDim(in[0]) / 2
	if is64(dx) {
		d, x, gy := buf[float64](dx), data[float64](in[0]), data[float64](dy)
		for r := 0; r*f < len(gy); r++ {
			g, u, dyr := x[2*r*f:(2*r+1)*f], x[(2*r+1)*f:(2*r+2)*f], gy[r*f:(r+1)*f]
			dg, du := d[2*r*f:(2*r+1)*f], d[(2*r+1)*f:(2*r+2)*f]
			copy(du, g)
			activateRef(du, k.act)
			for j, v := range g {
				du[j] *= dyr[j]
				dg[j] = dyr[j] * u[j] * activationDeriv(v, k.act)
			}
		}
		return
	}
	d, x, gy := buf[float32](dx), data[float32](in[0]), data[float32](dy)
	rows := len(gy) / f
	blas.ParallelItems(rows, k.th.workers(rows), func(_, r int) {
		g, u, dyr := x[2*r*f:(2*r+1)*f], x[(2*r+1)*f:(2*r+2)*f], gy[r*f:(r+1)*f]
		dg, du := d[2*r*f:(2*r+1)*f], d[(2*r+1)*f:(2*r+2)*f]
		if k.act == backend.ActSiLU {
			siluPairGrad32(dg, du, g, u, dyr)
			return
		}
		copy(du, g)
		backend.ActivateInPlace(du, k.act)
		for j, v := range dyr {
			du[j] *= v
		}
		actGrad32(dg, g, dyr, u, k.act)
	})
}

// siluPairGrad32 is SwiGLU's backward for one row with one σ per
// element, blas.SiLUGrad (one AVX2 pass; its Go twin is the scalar loop):
// s = σ(g) from the vector exp, du = dy·g·s (= dy·SiLU(g)) and
// dg = dy·u·s·(1 + g·(1 − s)).
func siluPairGrad32(dg, du, g, u, dy []float32) { blas.SiLUGrad(dg, du, g, u, dy) }
