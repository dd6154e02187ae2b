package graph

import (
	"fmt"
	"math"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
)

// ---- fused attention: softmax(scale·q·kᵀ + mask, causal)·v in one op ----

// attnK is scaled-dot-product attention over q [B, H, Tq, Dh], k, v
// [B, KVH, Tk, Dh] (grouped-query: head h reads kv head h/(H/KVH)), an
// optional additive mask [B or 1, H or 1, Tq, Tk] (not differentiated) as
// a fourth input. The output is [B, H, Tq, Dh], or [B, Tq, H·Dh] when
// merged (backend.MergedAttention, no transpose node after it).
//
// Per (b, h) the forward runs S = scale·q·kᵀ (sgemm N,T), the mask and
// causal −Inf, a row softmax (blas.Softmax, as Eager) and y = P·v (sgemm
// N,N); it keeps P [B, H, Tq, Tk] for the backward pass. The backward
// pass computes, per (b, kv head) and each of its query heads:
//
//	dP = dy·vᵀ                 sgemm(N, T)
//	dS = scale·P⊙(dP − Σ_j dP⊙P)
//	dq = dS·k                  sgemm(N, N)
//	dk += dSᵀ·q, dv += Pᵀ·dy    sgemm(T, N)
//
// all three gradients in one pass (the first gradient node asked for
// runs it; every gradient node hands on its buffer without a copy,
// gradOwner), items in parallel on one thread each. A fully masked row
// has P = 0 and so no gradient.
type attnK struct {
	scale   float32
	causal  bool
	hasMask bool
	merged  bool
	st      *attnState
	th      *budget
}

// attnState is what the forward pass leaves for the backward pass, and
// the gradient buffers, reused across runs. run counts forward passes;
// done is the run whose gradients are in dq, dk, dv.
type attnState struct {
	p32, dq32, dk32, dv32, dp32 []float32
	p64, dq64, dk64, dv64, dp64 []float64
	run, done                   int
}

func newAttnK(th *budget, scale float32, causal, hasMask, merged bool) attnK {
	return attnK{scale: scale, causal: causal, hasMask: hasMask, merged: merged, st: &attnState{}, th: th}
}

func (k attnK) name() string {
	return fmt.Sprintf("Attention{%x,causal=%v,mask=%v,merged=%v}", math.Float32bits(k.scale), k.causal, k.hasMask, k.merged)
}

// attnDims are the sizes of one attention problem.
type attnDims struct{ b, h, kvh, tq, tk, dh int }

func attnDimsOf(q, kv tensor.Shape) attnDims {
	return attnDims{b: q[0], h: q[1], kvh: kv[1], tq: q[2], tk: kv[2], dh: q[3]}
}

func (k attnK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	q, kk, v := in[0], in[1], in[2]
	if len(q) != 4 || len(kk) != 4 || !kk.Eq(v) || q[0] != kk[0] || q[3] != kk[3] || kk[1] == 0 || q[1]%kk[1] != 0 {
		return nil, fmt.Errorf("q %v, k %v, v %v", q, kk, v)
	}
	d := attnDimsOf(q, kk)
	if k.hasMask {
		s := tensor.Shape{d.b, d.h, d.tq, d.tk}
		m := in[3]
		if out, err := broadcastShape(m, s); err != nil || !out.Eq(s) || len(m) != 4 || m[2] != d.tq || m[3] != d.tk {
			return nil, fmt.Errorf("mask %v for scores %v", m, s)
		}
	}
	if k.merged {
		return tensor.Shape{d.b, d.tq, d.h * d.dh}, nil
	}
	return q.Clone(), nil
}
func (k attnK) diffWRT() []bool {
	if k.hasMask {
		return []bool{true, true, true, false}
	}
	return []bool{true, true, true}
}
func (attnK) overwrites() bool { return true }

// yAt returns the offset and leading dimension of head (b, h)'s output
// (or output gradient) block.
func (k attnK) yAt(d attnDims, b, h int) (off, ld int) {
	if k.merged {
		return b*d.tq*d.h*d.dh + h*d.dh, d.h * d.dh
	}
	return (b*d.h + h) * d.tq * d.dh, d.dh
}

func (k attnK) forward(out float64Or32, in []gorgonia.Value) {
	k.st.run++
	d := attnDimsOf(in[0].Shape(), in[1].Shape())
	n := d.b * d.h * d.tq * d.tk
	if is64(out) {
		k.st.p64 = grow(k.st.p64, n)
		attnFwd(k, d, buf[float64](out), k.st.p64, in)
	} else {
		k.st.p32 = grow(k.st.p32, n)
		attnFwd(k, d, buf[float32](out), k.st.p32, in)
	}
}

// grow returns s with length n, reusing its memory when it is big enough.
func grow[F any](s []F, n int) []F {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]F, n)
}

func attnFwd[F float](k attnK, d attnDims, y, p []F, in []gorgonia.Value) {
	q, kk, v := data[F](in[0]), data[F](in[1]), data[F](in[2])
	var mask []F
	var mst []int
	if k.hasMask {
		mask = data[F](in[3])
		mst = backend.BroadcastStrides(in[3].Shape(), tensor.Shape{d.b, d.h, d.tq, d.tk})
	}
	g := d.h / d.kvh
	one := k.th.single()
	blas.ParallelItems(d.b*d.h, k.th.workers(d.b*d.h), func(_, item int) {
		b, h := item/d.h, item%d.h
		kv := (b*d.kvh + h/g) * d.tk * d.dh
		qh := q[(b*d.h+h)*d.tq*d.dh:]
		ph := p[(b*d.h+h)*d.tq*d.tk : (b*d.h+h+1)*d.tq*d.tk]
		gemm(one, false, true, d.tq, d.tk, d.dh, qh, d.dh, kk[kv:], d.dh, 0, ph, d.tk) // [Tq, Tk] = q·kᵀ
		scale := F(k.scale)
		for i := 0; i < d.tq; i++ {
			row := ph[i*d.tk : (i+1)*d.tk]
			for j := range row {
				row[j] *= scale
			}
			if mask != nil {
				off := b*mst[0] + h*mst[1] + i*d.tk
				for j, m := range mask[off : off+d.tk] {
					row[j] += m
				}
			}
			if k.causal {
				for j := max(0, d.tk-d.tq+i+1); j < d.tk; j++ {
					row[j] = F(math.Inf(-1))
				}
			}
			softmaxRow(row)
		}
		off, ld := k.yAt(d, b, h)
		gemm(one, false, false, d.tq, d.dh, d.tk, ph, d.tk, v[kv:], d.dh, 0, y[off:], ld) // [Tq, Dh] = P·v
	})
}

// softmaxRow is blas.Softmax (the eager kernel) in float32 and
// softmaxRowRef in float64.
func softmaxRow[F float](row []F) {
	if r, ok := any(row).([]float32); ok {
		blas.Softmax(r)
		return
	}
	softmaxRowRef(row)
}

func (k attnK) backward(i int, dx float64Or32, in []gorgonia.Value, y, dy gorgonia.Value) {
	switch g := k.gradOf(i, in, y, dy).(type) {
	case []float64:
		copy(buf[float64](dx), g)
	case []float32:
		copy(buf[float32](dx), g)
	}
}

// gradOf implements gradOwner: the first gradient node of a run computes
// dq, dk and dv together; every node returns its own buffer.
func (k attnK) gradOf(i int, in []gorgonia.Value, _, dy gorgonia.Value) float64Or32 {
	d := attnDimsOf(in[0].Shape(), in[1].Shape())
	st := k.st
	if _, ok := dy.Data().([]float64); ok {
		if st.done != st.run {
			st.dq64, st.dk64, st.dv64 = grow(st.dq64, numel(in[0])), grow(st.dk64, numel(in[1])), grow(st.dv64, numel(in[2]))
			st.dp64 = grow(st.dp64, len(st.p64))
			attnBwd(k, d, st.dq64, st.dk64, st.dv64, st.dp64, st.p64, in, data[float64](dy))
			st.done = st.run
		}
		return [][]float64{st.dq64, st.dk64, st.dv64}[i]
	}
	if st.done != st.run {
		st.dq32, st.dk32, st.dv32 = grow(st.dq32, numel(in[0])), grow(st.dk32, numel(in[1])), grow(st.dv32, numel(in[2]))
		st.dp32 = grow(st.dp32, len(st.p32))
		attnBwd(k, d, st.dq32, st.dk32, st.dv32, st.dp32, st.p32, in, data[float32](dy))
		st.done = st.run
	}
	return [][]float32{st.dq32, st.dk32, st.dv32}[i]
}

// numel is the element count of a value.
func numel(v gorgonia.Value) int { return v.Shape().TotalSize() }

func attnBwd[F float](k attnK, d attnDims, dq, dk, dv, dp, p []F, in []gorgonia.Value, dy []F) {
	q, kk, v := data[F](in[0]), data[F](in[1]), data[F](in[2])
	g := d.h / d.kvh
	one := k.th.single()
	scale := F(k.scale)
	blas.ParallelItems(d.b*d.kvh, k.th.workers(d.b*d.kvh), func(_, item int) {
		b, kh := item/d.kvh, item%d.kvh
		kv := (b*d.kvh + kh) * d.tk * d.dh
		dkh, dvh := dk[kv:kv+d.tk*d.dh], dv[kv:kv+d.tk*d.dh]
		for gi := 0; gi < g; gi++ {
			h := kh*g + gi
			pl := (b*d.h + h) * d.tq * d.tk
			ph, dph := p[pl:pl+d.tq*d.tk], dp[pl:pl+d.tq*d.tk]
			off, ld := k.yAt(d, b, h)
			dyh := dy[off:]
			gemm(one, false, true, d.tq, d.tk, d.dh, dyh, ld, v[kv:], d.dh, 0, dph, d.tk) // dP = dy·vᵀ
			for i := 0; i < d.tq; i++ {
				softmaxGradRow(dph[i*d.tk:(i+1)*d.tk], ph[i*d.tk:(i+1)*d.tk], scale) // dS
			}
			qo := (b*d.h + h) * d.tq * d.dh
			var beta F
			if gi > 0 {
				beta = 1
			}
			gemm(one, false, false, d.tq, d.dh, d.tk, dph, d.tk, kk[kv:], d.dh, 0, dq[qo:], d.dh) // dq = dS·k
			gemm(one, true, false, d.tk, d.dh, d.tq, dph, d.tk, q[qo:], d.dh, beta, dkh, d.dh)    // dk += dSᵀ·q
			gemm(one, true, false, d.tk, d.dh, d.tq, ph, d.tk, dyh, ld, beta, dvh, d.dh)          // dv += Pᵀ·dy
		}
	})
}

// softmaxGradRow replaces dp by scale·p⊙(dp − Σ p⊙dp): blas.Sdot and
// float32 in a float32 graph, float64 sums in a float64 one.
func softmaxGradRow[F float](dp, p []F, scale F) {
	if p32, ok := any(p).([]float32); ok {
		d32 := any(dp).([]float32)
		dot, s := blas.Sdot(len(p32), p32, d32), float32(scale)
		for j, x := range p32 {
			d32[j] = x * (d32[j] - dot) * s
		}
		return
	}
	var dot float64
	for j, x := range p {
		dot += float64(x) * float64(dp[j])
	}
	for j, x := range p {
		dp[j] = F(float64(x)*(float64(dp[j])-dot)) * scale
	}
}

// attention builds the fused attention node.
func (b *Backend) attention(q, k, v backend.Value, opt backend.AttnOpts, merged bool) backend.Value {
	if opt.Cache != nil {
		panic("graph.Attention: a KV cache is not supported by the graph backend (train on whole sequences)")
	}
	qs, ks, vs := b.Shape(q), b.Shape(k), b.Shape(v)
	if len(qs) != 4 || len(ks) != 4 || !slices.Equal(ks, vs) || qs[0] != ks[0] || qs[3] != ks[3] ||
		ks[1] == 0 || qs[1]%ks[1] != 0 {
		panic(fmt.Sprintf("graph.Attention: q %v, k %v, v %v", qs, ks, vs))
	}
	scale := opt.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(qs[3])))
	}
	inputs := []*gorgonia.Node{b.Node(q), b.Node(k), b.Node(v)}
	if opt.Mask != nil {
		inputs = append(inputs, b.Node(opt.Mask))
	}
	return apply(newAttnK(b.th, scale, opt.Causal, opt.Mask != nil, merged), b.dt, inputs...)
}

// AttentionMerged is Attention with its output written as [B, Tq, H·Dh]
// (backend.MergedAttention): no transpose node after it.
func (b *Backend) AttentionMerged(q, k, v backend.Value, opt backend.AttnOpts) backend.Value {
	return b.attention(q, k, v, opt, true)
}

var _ gradOwner = attnK{}
