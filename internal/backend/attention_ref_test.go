package backend

import (
	"math"

	"github.com/fovea-ml/fovea/internal/blas"
)

// gemmFunc is the signature of blas.Sgemm and blas.SgemmRef.
type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// attentionRef is the plain reference twin of attend: the former eager
// kernel on the reference sgemm.
func attentionRef(p *attnProblem, out []float32) { attentionNaive(p, out, blas.SgemmRef) }

// attentionNaive is the former eager kernel: per (batch, head) it builds
// the whole [Tq, Tk] score matrix with gemm, adds the mask, sets causal
// entries to −Inf, takes the float64 softmaxRow of every row and
// multiplies by V. With blas.Sgemm it is the "before" of the benchmarks.
func attentionNaive(p *attnProblem, out []float32, gemm gemmFunc) {
	group := p.h / p.kvh
	tq, tk, dh := p.tq, p.tk, p.dh
	scores := make([]float32, tq*tk) // [Tq, Tk]
	for bh := 0; bh < p.b*p.h; bh++ {
		bi, hd := bh/p.h, bh%p.h
		kr, vr := p.kv(bi, hd/group)
		qr := p.q[bh*tq*dh : (bh+1)*tq*dh]
		gemm(false, true, tq, tk, dh, p.scale, qr, dh, kr, dh, 0, scores, tk)
		for i := 0; i < tq; i++ {
			row := scores[i*tk : (i+1)*tk]
			if m := p.maskRow(bi, hd, i); m != nil {
				for j := range row {
					row[j] += m[j]
				}
			}
			if p.causal {
				for j := max(tk-tq+i+1, 0); j < tk; j++ {
					row[j] = float32(math.Inf(-1))
				}
			}
			softmaxRow(row)
		}
		gemm(false, false, tq, dh, tk, 1, scores, tk, vr, dh, 0, out[bh*tq*dh:(bh+1)*tq*dh], dh)
	}
}
