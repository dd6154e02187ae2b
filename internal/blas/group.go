package blas

import "fmt"

// PackedProduct is one member of a grouped product: C [m×n] (row stride
// Ldc) = A·op(B), op(B) [k×n] pre-packed.
type PackedProduct struct {
	B   *PackedB
	C   []float32
	Ldc int
}

// SgemmPackedGroup computes C_g = A·op(B_g), overwriting each C_g, for
// every product g of prods: one input A [m×k] (row stride lda) against
// several matrices packed by PackB on im, all with the same k. It is the
// q/k/v (or gate/up) projection of one activation in a single parallel
// pass: the blocked path packs each block of A once for all products, and
// the small-m path (m ≤ SmallM, the decode step) streams the panels of
// all products as one sequence split across goroutines. Products with
// n == 0 are skipped. It panics (a programmer error) when a slice is too
// short, the depths differ or a B was packed for another level.
func (im *Impl) SgemmPackedGroup(m int, a []float32, lda int, prods []PackedProduct) {
	if m < 0 {
		panic(fmt.Sprintf("blas.SgemmPackedGroup: negative m=%d", m))
	}
	k := -1
	var flops, bytes int
	for g, pr := range prods {
		if pr.B == nil {
			panic(fmt.Sprintf("blas.SgemmPackedGroup: product %d has a nil PackedB", g))
		}
		if pr.B.im.level != im.level {
			panic(fmt.Sprintf("blas.SgemmPackedGroup: product %d packed for level %v, kernels are %v", g, pr.B.im.level, im.level))
		}
		if k >= 0 && pr.B.k != k {
			panic(fmt.Sprintf("blas.SgemmPackedGroup: product %d has depth %d, product 0 has %d", g, pr.B.k, k))
		}
		k = pr.B.k
		checkMat("C", m, pr.B.n, pr.C, pr.Ldc)
		flops += 2 * m * pr.B.n * k
		bytes += len(pr.B.data) * floatBytes
	}
	if len(prods) == 0 || m == 0 {
		return
	}
	checkMat("A", m, k, a, lda)
	if k == 0 {
		for _, pr := range prods {
			scaleRows(m, pr.B.n, 0, pr.C, pr.Ldc)
		}
		return
	}
	if m <= SmallM {
		// Memory-bound: split by the bytes of B̃ to stream, not flops.
		gemvPackedGroup(im, im.threadsFor(bytes, minGemvBytesPerThread), m, a, lda, prods)
		return
	}
	gemmPackedGroup(im, im.threadsFor(flops, minFlopsPerThread), m, 1, a, lda, prods, 0)
}

// minGemvBytesPerThread is the size of packed B̃ below which one more
// goroutine does not pay in the small-m path: streaming it takes
// ~10–20 µs, the pool's fork-join ~1 µs.
const minGemvBytesPerThread = 128 << 10

// segment is a run of whole column panels [jlo, jhi) (in columns, jlo a
// multiple of nr) of one product.
type segment struct {
	pr       *PackedProduct
	jlo, jhi int
}

// splitPanels cuts the panels of prods, taken in order as one sequence of
// total panels, into the part [plo, phi) as segments.
func splitPanels(prods []PackedProduct, nr, plo, phi int) []segment {
	var segs []segment
	forSegments(prods, nr, plo, phi, func(s segment) { segs = append(segs, s) })
	return segs
}

func totalPanels(prods []PackedProduct, nr int) int {
	n := 0
	for _, pr := range prods {
		n += (pr.B.n + nr - 1) / nr
	}
	return n
}

// gemvPackedGroup is the small-m driver: the panels of all products form
// one sequence (consecutive in memory when PrepareF32 laid them out from
// one arena), split into contiguous ranges, one per goroutine; each range
// is streamed once by the level's panel-gemv kernel.
func gemvPackedGroup(im *Impl, threads, m int, a []float32, lda int, prods []PackedProduct) {
	nr := im.gemm.nr
	panels := totalPanels(prods, nr)
	threads = min(threads, panels)
	parallel(threads, func(t int) {
		forSegments(prods, nr, panels*t/threads, panels*(t+1)/threads, func(s segment) {
			gemvSegment(im, m, a, lda, s)
		})
	})
}

// forSegments calls f for the parts of [plo, phi) of the panel sequence
// of prods, one segment per product touched.
func forSegments(prods []PackedProduct, nr, plo, phi int, f func(segment)) {
	base := 0
	for g := range prods {
		pr := &prods[g]
		np := (pr.B.n + nr - 1) / nr
		if lo, hi := max(plo, base), min(phi, base+np); lo < hi {
			f(segment{pr: pr, jlo: (lo - base) * nr, jhi: min(pr.B.n, (hi-base)*nr)})
		}
		base += np
		if base >= phi {
			return
		}
	}
}

// gemvSegment computes the columns [s.jlo, s.jhi) of one product for all
// m rows: whole panels straight into C, a ragged last panel through a
// scratch tile.
func gemvSegment(im *Impl, m int, a []float32, lda int, s segment) {
	pb, nr, k := s.pr.B, im.gemm.nr, s.pr.B.k
	full := (s.jhi - s.jlo) / nr
	if full > 0 {
		im.gemvPanels(k, a, lda, m, pb.data[s.jlo*k:(s.jlo+full*nr)*k], full, s.pr.C[s.jlo:], s.pr.Ldc)
	}
	j := s.jlo + full*nr
	if j == s.jhi {
		return
	}
	var buf [SmallM * maxNR]float32
	tile := buf[:m*nr]
	im.gemvPanels(k, a, lda, m, pb.data[j*k:(j+nr)*k], 1, tile, nr)
	for i := 0; i < m; i++ {
		copy(s.pr.C[i*s.pr.Ldc+j:i*s.pr.Ldc+s.jhi], tile[i*nr:])
	}
}

// maxNR is the widest column panel of any level (AVX-512: 32).
const maxNR = 32

// gemvPanelsGo is the portable panel gemv and the reference twin of the
// assembly kernels: for npan consecutive k×nr panels,
// y[i·ldy + j·nr + c] = Σ_p x[i·ldx + p]·pan[j·k·nr + p·nr + c] for i < m,
// overwriting y.
func gemvPanelsGo(nr, k int, x []float32, ldx, m int, pan []float32, npan int, y []float32, ldy int) {
	var acc [maxNR]float32
	for j := 0; j < npan; j++ {
		pj := pan[j*k*nr : (j+1)*k*nr]
		for i := 0; i < m; i++ {
			xi := x[i*ldx : i*ldx+k]
			s := acc[:nr]
			clear(s)
			for p, xv := range xi {
				row := pj[p*nr : p*nr+nr]
				for c := range s {
					s[c] += xv * row[c]
				}
			}
			copy(y[i*ldy+j*nr:i*ldy+j*nr+nr], s)
		}
	}
}

// gemmPackedGroup is the blocked driver over pre-packed B's: one
// fork-join per call; each goroutine owns a range of rows of C (all
// products) or a range of the column panels of all products taken as one
// sequence, and runs column chunk (≤ nc columns) → pc (kc depth) → ic (mc
// rows, packing its own Ã once for every product of the chunk) → jr → ir.
func gemmPackedGroup(im *Impl, threads, m int, alpha float32, a []float32, lda int, prods []PackedProduct, beta float32) {
	kern := &im.gemm
	mr, nr := kern.mr, kern.nr
	k := prods[0].B.k
	rowTiles := (m + mr - 1) / mr
	panels := totalPanels(prods, nr)
	threads, byRows := splitWork(threads, rowTiles, panels)
	if byRows && threads > 1 {
		segs := splitPanels(prods, nr, 0, panels)
		gemmRowChunks(im, threads, false, m, alpha, a, lda, k, beta, func(ic, mb, pc, kb int, ap, tile []float32, add bool) {
			for _, s := range segs {
				macroPacked(kern, mb, kb, s.jlo, s.jhi, ap, s.pr.B, pc, s.pr.C[ic*s.pr.Ldc:], s.pr.Ldc, tile, add)
			}
		}, func(mlo, mhi int) {
			for _, s := range segs {
				scaleRows(mhi-mlo, s.jhi-s.jlo, beta, s.pr.C[mlo*s.pr.Ldc+s.jlo:], s.pr.Ldc)
			}
		})
		return
	}
	parallel(threads, func(t int) {
		mlo, mhi, plo, phi := 0, m, 0, panels
		if byRows {
			mlo, mhi = rowTiles*t/threads*mr, min(m, rowTiles*(t+1)/threads*mr)
		} else {
			plo, phi = panels*t/threads, panels*(t+1)/threads
		}
		if mlo >= mhi || plo >= phi {
			return
		}
		segs := splitPanels(prods, nr, plo, phi)
		if beta != 0 {
			for _, s := range segs {
				scaleRows(mhi-mlo, s.jhi-s.jlo, beta, s.pr.C[mlo*s.pr.Ldc+s.jlo:], s.pr.Ldc)
			}
		}
		sc := im.getScratch()
		defer im.scratch.Put(sc)
		ks := depthStep(kern.kc, k) // no ragged last slice (k = 256: one)
		for len(segs) > 0 {
			chunk := takeColumns(&segs, kern.nc, nr)
			for pc := 0; pc < k; pc += ks {
				kb := min(ks, k-pc)
				add := beta != 0 || pc > 0 // beta == 0: the first slice overwrites C
				for ic := mlo; ic < mhi; ic += kern.mc {
					mb := min(kern.mc, mhi-ic)
					ap := sc.apFor(roundUp(mb, mr) * kb)
					packA(kern, false, mb, kb, alpha, a, lda, ic, pc, ap)
					for _, s := range chunk {
						macroPacked(kern, mb, kb, s.jlo, s.jhi, ap, s.pr.B, pc, s.pr.C[ic*s.pr.Ldc:], s.pr.Ldc, sc.tile, add)
					}
				}
			}
		}
	})
}

// takeColumns removes from the front of *segs segments covering at most
// nc/nr column panels (splitting one at a panel boundary when needed) and
// returns them: the column block whose B̃ slices stay in L3 while every
// row block of A passes over them.
func takeColumns(segs *[]segment, nc, nr int) []segment {
	var chunk []segment
	left := nc / nr // panels
	for len(*segs) > 0 && left > 0 {
		s := (*segs)[0]
		if w := (s.jhi - s.jlo + nr - 1) / nr; w <= left {
			chunk = append(chunk, s)
			*segs = (*segs)[1:]
			left -= w
			continue
		}
		cut := s
		cut.jhi = s.jlo + left*nr
		chunk = append(chunk, cut)
		(*segs)[0].jlo = cut.jhi
		left = 0
	}
	return chunk
}
