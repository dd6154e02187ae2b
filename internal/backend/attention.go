package backend

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Fused scaled-dot-product attention (the kernel behind Eager.Attention).
//
// The score matrix [Tq, Tk] of a head is never built whole. Work is cut
// into items (batch b, kv head g, query tile [i0, i1)); an item stacks the
// query rows of all group = H/KVH query heads that read kv head g, so each
// key/value tile is loaded once per group (GQA without copying K or V):
//
//	Q̃ [rows, Dh]   rows = group·(i1−i0), row r = (head g·group + r/(i1−i0), query i0 + r%(i1−i0))
//	S  [rows, Bk]  = scale·Q̃·K[j0:j0+Bk]ᵀ          (blas sgemm)
//	               + mask tile, causal entries dropped
//	online softmax per row: m' = max(m, max S), α = exp(m − m'),
//	               l = α·l + Σ exp(S − m'), O = α·O
//	O  [rows, Dh] += exp(S − m')·V[j0:j0+Bk]       (blas sgemm)
//
// and finally out = O / l. A row that sees no key (all −Inf, or causal
// with nothing visible) has l = 0 and gives zeros, as the softmax of a
// fully masked row does. Key tiles wholly in a query tile's causal future
// are skipped. Items are handed out dynamically over GOMAXPROCS
// goroutines, heaviest (latest query tiles) first; each goroutine runs the
// single-threaded sgemm on its own pooled scratch.
//
// Layout choices follow what blas's sgemm packs cheaply (a transposed A,
// a non-transposed B): Q̃ is stored transposed [Dh, rows], and when a kv
// head serves several query tiles its keys are transposed once per call to
// Kᵀ [Dh, Tk] instead of being repacked by every tile. Items of at most
// attnGemvMaxRows rows (decode steps) skip sgemm and run gemv per row over
// K and V in place.

const (
	// attnRowsTarget is the number of stacked query rows per work item:
	// tall enough for the sgemm register tiles, small enough that an item's
	// Q̃, O and score tile stay in L2.
	attnRowsTarget = 256
	// attnScoreBudget bounds a score tile (rows·Bk floats, 256 KiB, in L2).
	attnScoreBudget = 1 << 16
	// attnKeyAlign rounds key tiles that do not cover all keys to a
	// multiple of the sgemm column panel.
	attnKeyAlign = 32
	// attnGemvMaxRows is the largest item (stacked query rows) that
	// multiplies by K and V row by row with gemv instead of packing them
	// for sgemm: decode steps, where packing would cost as much as the
	// product itself.
	attnGemvMaxRows = 8
	// attnParallelMinWork is the multiply-add count below which an
	// attention call stays on the calling goroutine: a decode step over a
	// short cache finishes faster than goroutines start and join.
	attnParallelMinWork = 1 << 18
)

// attnProblem is one validated attention call: all shapes known, keys and
// values reachable per (batch, kv head), the KV cache already appended.
type attnProblem struct {
	b, h, kvh, tq, tk, dh int
	// q holds the queries [B, H, Tq, Dh].
	q []float32
	// kv returns keys and values [Tk, Dh] of sequence bi, kv head g.
	kv func(bi, g int) (k, v []float32)
	// scale multiplies q·kᵀ.
	scale  float32
	causal bool
	// mask is the additive mask, planes of [Tq, Tk]; plane (bi·mb + hd·mh)
	// belongs to sequence bi, head hd (mb, mh are 0 on broadcast dims).
	mask   []float32
	mb, mh int
	// merged writes the output as [B, Tq, H, Dh] (heads merged, ready for
	// the output projection) instead of [B, H, Tq, Dh].
	merged bool
}

// outRow returns the offset of head hd, query i of sequence bi in the
// output.
func (p *attnProblem) outRow(bi, hd, i int) int {
	if p.merged {
		return ((bi*p.tq+i)*p.h + hd) * p.dh
	}
	return ((bi*p.h+hd)*p.tq + i) * p.dh
}

// newAttnProblem checks shapes, appends k and v to the cache when there is
// one, and resolves the defaults of opt.
func newAttnProblem(q, k, v Value, opt AttnOpts) attnProblem {
	qt, kt, vt := T(q), T(k), T(v)
	if qt.Dims() != 4 || kt.Dims() != 4 || !tensor.SameShape(kt.Shape, vt.Shape) ||
		qt.Shape[0] != kt.Shape[0] || qt.Shape[3] != kt.Shape[3] || kt.Shape[1] == 0 || qt.Shape[1]%kt.Shape[1] != 0 {
		panic(fmt.Sprintf("backend.Attention: q %v, k %v, v %v", qt.Shape, kt.Shape, vt.Shape))
	}
	p := attnProblem{
		b: qt.Shape[0], h: qt.Shape[1], tq: qt.Shape[2], dh: qt.Shape[3],
		kvh: kt.Shape[1], tk: kt.Shape[2], q: qt.Data, causal: opt.Causal, scale: opt.Scale,
	}
	tk, dh := p.tk, p.dh
	p.kv = func(bi, g int) ([]float32, []float32) {
		off := (bi*p.kvh + g) * tk * dh
		return kt.Data[off : off+tk*dh], vt.Data[off : off+tk*dh]
	}
	if c := opt.Cache; c != nil {
		cb, ch, cd := c.Dims()
		if cb != p.b || ch != p.kvh || cd != p.dh {
			panic(fmt.Sprintf("backend.Attention: cache [%d,%d,·,%d] for k %v", cb, ch, cd, kt.Shape))
		}
		c.Append(kt.Data, vt.Data, p.tk)
		p.tk = c.Len()
		p.kv = c.Rows
	}
	if p.scale == 0 {
		p.scale = float32(1 / math.Sqrt(float64(p.dh)))
	}
	if opt.Mask != nil {
		mask := T(opt.Mask)
		if mask.Dims() != 4 || mask.Shape[2] != p.tq || mask.Shape[3] != p.tk ||
			(mask.Shape[0] != 1 && mask.Shape[0] != p.b) || (mask.Shape[1] != 1 && mask.Shape[1] != p.h) {
			panic(fmt.Sprintf("backend.Attention: mask %v for q %v and %d keys", mask.Shape, qt.Shape, p.tk))
		}
		p.mask = mask.Data
		if mask.Shape[0] != 1 {
			p.mb = mask.Shape[1]
		}
		if mask.Shape[1] != 1 {
			p.mh = 1
		}
	}
	return p
}

// visible returns how many keys query i may see (all Tk unless causal).
func (p *attnProblem) visible(i int) int {
	if !p.causal {
		return p.tk
	}
	return min(max(p.tk-p.tq+i+1, 0), p.tk)
}

// maskRow returns the additive mask of head hd of sequence bi, query i
// ([Tk]), or nil.
func (p *attnProblem) maskRow(bi, hd, i int) []float32 {
	if p.mask == nil {
		return nil
	}
	off := ((bi*p.mb+hd*p.mh)*p.tq + i) * p.tk
	return p.mask[off : off+p.tk]
}

// attend computes the attention of p into out [B, H, Tq, Dh] with the
// tiled online-softmax kernel.
func attend(p *attnProblem, out []float32) {
	group := p.h / p.kvh
	// Queries per item: at most attnRowsTarget stacked rows, and tiles of
	// equal size (256 queries in group 3 make 4 tiles of 64, not 85+85+85+1).
	qMax := max(1, attnRowsTarget/group)
	nTiles := (p.tq + qMax - 1) / qMax
	qTile := max(1, (p.tq+max(nTiles, 1)-1)/max(nTiles, 1))
	nTiles = (p.tq + qTile - 1) / qTile
	seqHeads := p.b * p.kvh
	items := nTiles * seqHeads
	maxRows := group * qTile
	keyTile := max(attnKeyAlign, attnScoreBudget/maxRows)
	// Work: two sgemms of rows·Tk·Dh (halved when causal).
	work := 2 * p.b * p.h * p.tq * p.tk * p.dh
	if p.causal {
		work /= 2
	}
	w := 1
	if work >= attnParallelMinWork {
		w = workers(items, work)
	}
	im := blas.Default().WithThreads(1)
	// With several query tiles per kv head, transpose K once per head
	// ([Dh, Tk]) so that no tile repacks it: sgemm packs a
	// non-transposed B and a transposed A by plain copies.
	var kT *f32Scratch
	if nTiles > 1 {
		kT = getScratch(seqHeads * p.dh * p.tk)
		defer putScratch(kT)
		parallelItems(seqHeads, workers(seqHeads, seqHeads*p.tk*p.dh*costCopy), func(_, bg int) {
			k, _ := p.kv(bg/p.kvh, bg%p.kvh)
			transposeRows(kT.s[bg*p.dh*p.tk:(bg+1)*p.dh*p.tk], k, p.tk, p.dh, 0, p.dh) // [Dh, Tk]
		})
	}
	// Per worker: Q̃ᵀ and O [maxRows, Dh], S [maxRows, keyTile], m and l [maxRows].
	per := 2*maxRows*p.dh + maxRows*keyTile + 2*maxRows
	bufs := make([]*f32Scratch, w)
	for i := range bufs {
		bufs[i] = getScratch(per)
	}
	parallelItems(items, w, func(worker, item int) {
		// Latest query tiles first: under a causal mask they are the heaviest.
		tile := nTiles - 1 - item/seqHeads
		bg := item % seqHeads
		i0 := tile * qTile
		i1 := min(i0+qTile, p.tq)
		var kt []float32
		if kT != nil {
			kt = kT.s[bg*p.dh*p.tk : (bg+1)*p.dh*p.tk]
		}
		attendItem(p, im, bufs[worker].s, bg/p.kvh, bg%p.kvh, i0, i1, keyTile, kt, out)
	})
	for _, b := range bufs {
		putScratch(b)
	}
}

// attendItem runs one work item: sequence bi, kv head g, queries [i0, i1)
// of every query head in g's group. buf is the worker's scratch; kt is
// this kv head's keys transposed [Dh, Tk], or nil to read K [Tk, Dh].
func attendItem(p *attnProblem, im *blas.Impl, buf []float32, bi, g, i0, i1, keyTile int, kt, out []float32) {
	dh, tq := p.dh, p.tq
	group := p.h / p.kvh
	nq := i1 - i0
	rows := group * nq
	qs := buf[:rows*dh]                        // Q̃ᵀ [Dh, rows]
	o := buf[rows*dh : 2*rows*dh]              // [rows, Dh]
	st := buf[2*rows*dh:]                      // score tile, then m, l
	mr := st[rows*keyTile : rows*keyTile+rows] // running max per row
	lr := st[rows*keyTile+rows : rows*keyTile+2*rows]
	// A few rows against untransposed keys (decode steps) go through gemv.
	gemv := kt == nil && rows <= attnGemvMaxRows
	qRow := func(r int) []float32 { // query row r of the item [Dh]
		off := ((bi*p.h+g*group+r/nq)*tq + i0 + r%nq) * dh
		return p.q[off : off+dh]
	}
	for r := 0; r < rows; r++ {
		if !gemv {
			for d, x := range qRow(r) {
				qs[d*rows+r] = x
			}
		}
		mr[r] = float32(math.Inf(-1))
		lr[r] = 0
	}
	kEnd := p.visible(i1 - 1) // keys any row of the item can see
	kAll, vAll := p.kv(bi, g)
	negInf := float32(math.Inf(-1))
	for j0, n := 0, 0; j0 < kEnd; j0 += n {
		n = min(keyTile, kEnd-j0)
		if n < kEnd-j0 {
			n -= n % attnKeyAlign
		}
		s := st[:rows*n] // [rows, n]
		switch {
		case kt != nil:
			im.Sgemm(true, false, rows, n, dh, p.scale, qs, rows, kt[j0:], p.tk, 0, s, n)
		case gemv:
			// Decode: K·q per query row, K read in place (no packing).
			for r := 0; r < rows; r++ {
				im.Sgemv(false, n, dh, p.scale, kAll[j0*dh:(j0+n)*dh], dh, qRow(r), 0, s[r*n:(r+1)*n])
			}
		default:
			im.Sgemm(true, true, rows, n, dh, p.scale, qs, rows, kAll[j0*dh:(j0+n)*dh], dh, 0, s, n)
		}
		for r := 0; r < rows; r++ {
			row := s[r*n : (r+1)*n]
			hd := g*group + r/nq
			i := i0 + r%nq
			valid := min(max(p.visible(i)-j0, 0), n)
			if m := p.maskRow(bi, hd, i); m != nil {
				m = m[j0 : j0+valid]
				for j := range m {
					row[j] += m[j]
				}
			}
			mNew := max(mr[r], blas.Max(row[:valid]))
			if mNew == negInf {
				// Nothing visible so far: this tile adds nothing.
				clear(row)
				continue
			}
			if mOld := mr[r]; mOld != mNew && mOld != negInf {
				alpha := float32(math.Exp(float64(mOld - mNew)))
				lr[r] *= alpha
				blas.Scale(alpha, o[r*dh:(r+1)*dh])
			}
			mr[r] = mNew
			lr[r] += blas.ExpSub(row[:valid], mNew)
			clear(row[valid:])
		}
		beta := float32(1)
		if j0 == 0 {
			beta = 0 // first tile overwrites O (rows with nothing visible get P = 0)
		}
		if gemv {
			for r := 0; r < rows; r++ { // O[r] += Vᵀ·P[r]
				im.Sgemv(true, n, dh, 1, vAll[j0*dh:(j0+n)*dh], dh, s[r*n:(r+1)*n], beta, o[r*dh:(r+1)*dh])
			}
		} else {
			im.Sgemm(false, false, rows, dh, n, 1, s, n, vAll[j0*dh:(j0+n)*dh], dh, beta, o, dh)
		}
	}
	for r := 0; r < rows; r++ {
		hd := g*group + r/nq
		i := i0 + r%nq
		off := p.outRow(bi, hd, i)
		dst := out[off : off+dh]
		if kEnd <= 0 || lr[r] == 0 {
			clear(dst)
			continue
		}
		inv := 1 / lr[r]
		for j, x := range o[r*dh : (r+1)*dh] {
			dst[j] = x * inv
		}
	}
}
