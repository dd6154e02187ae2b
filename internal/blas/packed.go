package blas

import (
	"fmt"
	"sync"
)

// PackedB is op(B) [k×n] packed once into the micro-kernel panel layout of
// one level: ceil(n/nr) panels, panel j holding op(B)[0:k, j·nr:(j+1)·nr]
// as k rows of nr floats (zero-padded at the right edge), each panel
// covering the whole depth k so that any kc-slice of it is contiguous.
// It is immutable after PackB and safe for concurrent use.
type PackedB struct {
	im   *Impl // the kernel set whose geometry the panels follow
	k, n int
	data []float32 // panels, panel j at data[j·k·nr:]
}

// Dims returns (k, n): op(B) is k×n.
func (pb *PackedB) Dims() (k, n int) { return pb.k, pb.n }

// Level reports the kernel level the panels were packed for.
func (pb *PackedB) Level() Level { return pb.im.level }

// panel returns the kb×nr slice of panel j starting at depth pc.
func (pb *PackedB) panel(j, pc, kb int) []float32 {
	nr := pb.im.gemm.nr
	off := j*pb.k*nr + pc*nr
	return pb.data[off : off+kb*nr]
}

// PackB packs op(B) (k×n; B stored n×k when transB) for the default
// kernels; see Impl.PackB.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	return defaultImpl.PackB(transB, k, n, b, ldb)
}

// PackB packs op(B) [k×n] into im's panel layout (for Linear weights W
// [Out, In]: PackB(true, In, Out, W, In)). The result is reused by
// SgemmPacked on im without repacking. It panics when b is too short for
// its shape and stride (a programmer error).
func (im *Impl) PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	return im.PackBInto(nil, transB, k, n, b, ldb)
}

// PackedLen is the number of float32s the panels of op(B) [k×n] take on
// im: the buffer size PackBInto needs.
func (im *Impl) PackedLen(k, n int) int {
	nr := im.gemm.nr
	return (n + nr - 1) / nr * k * nr
}

// PackBInto is PackB writing the panels to buf (len ≥ PackedLen(k, n),
// best 64-byte aligned; nil allocates), so that a caller can lay many
// matrices out in one block (internal/arena) in the order they are used.
func (im *Impl) PackBInto(buf []float32, transB bool, k, n int, b []float32, ldb int) *PackedB {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("blas.PackB: negative size k=%d n=%d", k, n))
	}
	checkMat("B", rowsOf(transB, k, n), colsOf(transB, k, n), b, ldb)
	kern := &im.gemm
	panels := (n + kern.nr - 1) / kern.nr
	size := im.PackedLen(k, n)
	if buf == nil {
		buf = alignedFloats(size)
	} else if len(buf) < size {
		panic(fmt.Sprintf("blas.PackBInto: op(B) %d×%d needs %d floats, buffer has %d", k, n, size, len(buf)))
	}
	pb := &PackedB{im: im, k: k, n: n, data: buf[:size:size]}
	if k == 0 || n == 0 {
		return pb
	}
	threads := min(im.threadsFor(k*n, minGemvThreadElems), panels)
	parallel(threads, func(t int) {
		lo, hi := panels*t/threads*kern.nr, min(n, panels*(t+1)/threads*kern.nr)
		if lo < hi {
			packB(kern, transB, k, hi-lo, b, ldb, 0, lo, pb.data[lo*k:])
		}
	})
	return pb
}

// SgemmPacked computes C = alpha·A·op(B) + beta·C with the default
// kernels; see Impl.SgemmPacked.
func SgemmPacked(m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	defaultImpl.SgemmPacked(m, alpha, a, lda, pb, beta, c, ldc)
}

// SgemmPacked computes C [m×n] = alpha·A [m×k]·op(B) + beta·C, A row-major
// with stride lda, op(B) pre-packed by PackB (on an Impl of the same
// level). beta == 0 overwrites C without reading it. It panics when a
// slice is too short or pb belongs to another level (programmer errors).
func (im *Impl) SgemmPacked(m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	if pb == nil {
		panic("blas.SgemmPacked: nil PackedB")
	}
	if pb.im.level != im.level {
		panic(fmt.Sprintf("blas.SgemmPacked: B packed for level %v, kernels are %v", pb.im.level, im.level))
	}
	k, n := pb.k, pb.n
	if m < 0 {
		panic(fmt.Sprintf("blas.SgemmPacked: negative m=%d", m))
	}
	checkMat("A", m, k, a, lda)
	checkMat("C", m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	prods := []PackedProduct{{B: pb, C: c, Ldc: ldc}}
	if m <= SmallM && alpha == 1 && beta == 0 {
		im.SgemmPackedGroup(m, a, lda, prods) // the panel-gemv path
		return
	}
	gemmPackedGroup(im, im.threadsFor(2*m*n*k, minFlopsPerThread), m, alpha, a, lda, prods, beta)
}

// gemmScratch is one goroutine's packing buffers: Ã (mc×kc) and an edge
// tile (mr×nr). Impl.scratch pools them across calls.
type gemmScratch struct{ ap, bp, tile []float32 }

// apFor returns the Ã buffer with room for n floats, growing it when a
// deeper k-slice (depthStep) needs more than mc·kc.
func (s *gemmScratch) apFor(n int) []float32 {
	if len(s.ap) < n {
		s.ap = alignedFloats(n)
	}
	return s.ap[:n]
}

// bpFor returns the goroutine's own B̃ buffer (gemmCols) with room for n floats.
func (s *gemmScratch) bpFor(n int) []float32 {
	if len(s.bp) < n {
		s.bp = alignedFloats(n)
	}
	return s.bp[:n]
}

func (im *Impl) getScratch() *gemmScratch {
	if s, ok := im.scratch.Get().(*gemmScratch); ok {
		return s
	}
	g := &im.gemm
	return &gemmScratch{ap: alignedFloats(g.mc * g.kc), tile: alignedFloats(g.mr * g.nr)}
}

// newScratchPool returns the per-Impl pool of packing buffers.
func newScratchPool() *sync.Pool { return new(sync.Pool) }

// splitWork decides how threads share an m×n product of rowTiles×colTiles
// register tiles: by rows (whole tiles) or by column panels, whichever
// leaves the busiest goroutine fewer tiles (columns on a tie, since then
// no goroutine owns a ragged row tile). It returns the thread count
// actually used.
func splitWork(threads, rowTiles, colTiles int) (useThreads int, byRows bool) {
	rt, ct := min(threads, rowTiles), min(threads, colTiles)
	rowCost := (rowTiles + rt - 1) / rt * colTiles
	colCost := (colTiles + ct - 1) / ct * rowTiles
	if rowCost < colCost {
		return rt, true
	}
	return ct, false
}

// macroPacked multiplies the packed mb×kb block Ã by columns [jlo, jhi)
// (jlo a multiple of nr) of the kb-slice at depth pc of pb, into C
// (offset to row ic, column 0).
func macroPacked(kern *gemmKernel, mb, kb, jlo, jhi int, ap []float32, pb *PackedB, pc int, c []float32, ldc int, tile []float32, add bool) {
	mr, nr := kern.mr, kern.nr
	for jr := jlo; jr < jhi; jr += nr {
		bpan := pb.panel(jr/nr, pc, kb)
		nv := min(nr, jhi-jr)
		for ir := 0; ir < mb; ir += mr {
			apan := ap[ir*kb : (ir+mr)*kb]
			microTile(kern, kb, apan, bpan, c[ir*ldc+jr:], ldc, min(mr, mb-ir), nv, tile, add)
		}
	}
}

// microTile runs the micro-kernel on one register tile of C with mv×nv
// valid entries: full tiles go straight to C, edge tiles through the
// scratch tile.
func microTile(kern *gemmKernel, kb int, apan, bpan, c []float32, ldc, mv, nv int, tile []float32, add bool) {
	mr, nr := kern.mr, kern.nr
	if mv == mr && nv == nr {
		kern.micro(kb, apan, bpan, c, ldc, add)
		return
	}
	kern.micro(kb, apan, bpan, tile, nr, false)
	for i := 0; i < mv; i++ {
		dst := c[i*ldc : i*ldc+nv]
		src := tile[i*nr : i*nr+nv]
		if !add {
			copy(dst, src)
			continue
		}
		for j := range dst {
			dst[j] += src[j]
		}
	}
}
