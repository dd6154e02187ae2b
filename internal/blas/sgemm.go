package blas

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// gemmKernel describes one register-tile micro-kernel and the cache blocks
// that feed it. micro computes C[0:mr, 0:nr] += Ã·B̃ where Ã is a packed
// k×mr panel (column p of op(A) rows stored contiguously, alpha folded in)
// and B̃ a packed k×nr panel (row p of op(B) stored contiguously).
type gemmKernel struct {
	mr, nr     int // register tile: rows × columns of C
	mc, kc, nc int // cache blocks: A block mc×kc (L2), B block kc×nc (L3)
	micro      func(k int, a, b, c []float32, ldc int, add bool)
	// packT is the transposing copy dst[p·ldd+i] = alpha·src[i·lds+p]
	// for i < rows, p < cols (packTGo or a vectorised twin).
	packT func(dst []float32, ldd int, src []float32, lds, rows, cols int, alpha float32)
}

const (
	// panelAlign is the byte alignment of packed panels (one cache line,
	// also one zmm register).
	panelAlign = 64
	// minFlopsPerThread is the work (2·m·n·k) below which an extra
	// goroutine costs more than it saves.
	minFlopsPerThread = 1 << 21
	// floatBytes is sizeof(float32).
	floatBytes = 4
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C in row-major storage with
// im's kernels; see SgemmRef for the argument conventions. It panics (a
// programmer error) when a slice is too short for its shape and stride.
func (im *Impl) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	if m == 1 {
		// One output row: C[0,:] = alpha·x·op(B) + beta·C, a gemv.
		x := a[:k]
		if transA { // A stored k×1 with stride lda
			x = make([]float32, k)
			for p := range x {
				x[p] = a[p*lda]
			}
		}
		// op(B) is k×n; transB means B is stored n×k: y = B·x.
		im.Sgemv(!transB, rowsOf(transB, k, n), colsOf(transB, k, n), alpha, b, ldb, x, beta, c[:n])
		return
	}
	gemmBlocked(im, im.threadsFor(2*m*n*k, minFlopsPerThread), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func rowsOf(trans bool, r, c int) int {
	if trans {
		return c
	}
	return r
}

func colsOf(trans bool, r, c int) int {
	if trans {
		return r
	}
	return c
}

// checkGemm panics with the offending shape when a slice is too short.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas.Sgemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat("A", ar, ac, a, lda)
	checkMat("B", br, bc, b, ldb)
	checkMat("C", m, n, c, ldc)
}

func checkMat(name string, r, c int, s []float32, ld int) {
	if r == 0 || c == 0 {
		return
	}
	if ld < c {
		panic(fmt.Sprintf("blas: %s is %d×%d but its stride is %d", name, r, c, ld))
	}
	if need := (r-1)*ld + c; len(s) < need {
		panic(fmt.Sprintf("blas: %s is %d×%d with stride %d: needs %d elements, has %d", name, r, c, ld, need, len(s)))
	}
}

// scaleRows sets C = beta·C for an m×n region; beta == 0 writes zeros
// without reading C.
func scaleRows(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// alignedFloats returns n float32s whose first element is panelAlign-byte
// aligned.
func alignedFloats(n int) []float32 {
	const pad = panelAlign / floatBytes
	buf := make([]float32, n+pad)
	off := int(uintptr(unsafe.Pointer(&buf[0]))%panelAlign) / floatBytes
	if off != 0 {
		off = pad - off
	}
	return buf[off : off+n : off+n]
}

// gemmBlocked runs the blocked five-loop algorithm: jc over nc columns, pc
// over kc depth (pack B̃ once, shared by all goroutines), ic over mc rows
// (each goroutine packs its own Ã), then jr/ir over register tiles. The
// goroutines split the rows of C in whole register tiles, or, when C has
// too few rows, the column panels of B̃.
func gemmBlocked(im *Impl, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kern := &im.gemm
	mr, nr := kern.mr, kern.nr
	rowTiles := (m + mr - 1) / mr
	colTiles := (n + nr - 1) / nr
	byRows := m >= n && rowTiles >= minColPanelsPerThread*threads
	if threads <= 1 || byRows || colTiles >= minColPanelsPerThread*threads {
		// Row or column ownership: one fork-join for the whole product.
		// Each goroutine packs all of the operand it shares (op(B) when
		// splitting rows, op(A) when splitting columns), so split the
		// side that leaves the smaller one to copy.
		if byRows {
			threads = max(1, min(threads, rowTiles))
			if threads > 1 {
				gemmSharedB(im, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				return
			}
		} else {
			threads = max(1, min(threads, colTiles))
		}
		parallel(threads, func(t int) {
			mlo, mhi, jlo, jhi := 0, m, colTiles*t/threads*nr, min(n, colTiles*(t+1)/threads*nr)
			if byRows {
				mlo, mhi, jlo, jhi = rowTiles*t/threads*mr, min(m, rowTiles*(t+1)/threads*mr), 0, n
			}
			if mlo < mhi && jlo < jhi {
				gemmRange(im, transA, transB, mlo, mhi, jlo, jhi, k, alpha, a, lda, b, ldb, beta, c, ldc)
			}
		})
		return
	}
	splitRows := rowTiles >= 2*threads
	if splitRows {
		threads = min(threads, rowTiles)
	} else {
		threads = min(threads, colTiles)
	}
	threads = max(threads, 1)
	if beta != 0 {
		parallel(threads, func(t int) { // beta·C, rows split across goroutines
			lo, hi := m*t/threads, m*(t+1)/threads
			scaleRows(hi-lo, n, beta, c[lo*ldc:], ldc)
		})
	}
	ks := depthStep(kern.kc, k) // no ragged last slice (k = 256: one)
	kcMax := min(ks, k)
	ncMax := min(kern.nc, roundUp(n, nr))
	bp := alignedFloats(ncMax * kcMax)
	per := make([]*gemmScratch, threads) // pooled Ã and edge-tile buffers
	for t := range per {
		per[t] = im.getScratch()
	}
	defer func() {
		for _, sc := range per {
			im.scratch.Put(sc)
		}
	}()
	for jc := 0; jc < n; jc += kern.nc {
		nb := min(kern.nc, n-jc)
		panels := (nb + nr - 1) / nr
		for pc := 0; pc < k; pc += ks {
			kb := min(ks, k-pc)
			parallel(threads, func(t int) { // pack B̃, panels split
				lo, hi := panels*t/threads*nr, min(nb, panels*(t+1)/threads*nr)
				if lo < hi {
					packB(kern, transB, kb, hi-lo, b, ldb, pc, jc+lo, bp[lo*kb:])
				}
			})
			parallel(threads, func(t int) {
				s := per[t]
				mlo, mhi, jlo, jhi := 0, m, 0, nb
				if splitRows {
					mlo, mhi = rowTiles*t/threads*mr, min(m, rowTiles*(t+1)/threads*mr)
				} else {
					jlo, jhi = panels*t/threads*nr, min(nb, panels*(t+1)/threads*nr)
				}
				for ic := mlo; ic < mhi; ic += kern.mc {
					mb := min(kern.mc, mhi-ic)
					ap := s.apFor(roundUp(mb, mr) * kb)
					packA(kern, transA, mb, kb, alpha, a, lda, ic, pc, ap)
					// With beta == 0 the first k-slice overwrites C.
					add := beta != 0 || pc > 0
					macroKernel(kern, mb, kb, jlo, jhi, ap, bp, c[ic*ldc+jc:], ldc, s.tile, add)
				}
			})
		}
	}
}

// gemmSharedB is the row split of a multi-threaded product: op(B) is
// packed once (its panels split across the goroutines, PackBInto) into
// the caller's scratch, then the row chunks of C (rowChunks) are claimed
// one at a time by whichever goroutine is free, each packing its own Ã
// against the shared B̃. Packing B̃ once instead of once per goroutine
// saves that copy; claiming chunks instead of owning a fixed half means a
// goroutine that the OS deschedules (a loaded machine) holds up at most
// one chunk, not half of the product.
func gemmSharedB(im *Impl, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kern := &im.gemm
	s := im.getScratch()
	defer im.scratch.Put(s)
	pb := im.PackBInto(s.bpFor(im.PackedLen(k, n)), transB, k, n, b, ldb)
	gemmRowChunks(im, threads, transA, m, alpha, a, lda, k, beta, func(ic, mb, pc, kb int, ap []float32, tile []float32, add bool) {
		macroPacked(kern, mb, kb, 0, n, ap, pb, pc, c[ic*ldc:], ldc, tile, add)
	}, func(mlo, mhi int) {
		scaleRows(mhi-mlo, n, beta, c[mlo*ldc:], ldc)
	})
}

// rowChunksPerThread is how many row chunks each goroutine gets on
// average in gemmRowChunks: enough that a late goroutine costs little,
// few enough that every chunk still fills whole register tiles.
const rowChunksPerThread = 2

// gemmRowChunks runs the row-chunk loop shared by gemmSharedB and
// gemmPackedGroup: rows of C in chunks of whole register tiles (at most
// mc), claimed dynamically; per chunk, scale (beta != 0) scales its rows
// of C first, then for each depth slice and mc block the chunk's Ã is
// packed (alpha folded in) and mul multiplies it into C.
func gemmRowChunks(im *Impl, threads int, transA bool, m int, alpha float32, a []float32, lda, k int, beta float32,
	mul func(ic, mb, pc, kb int, ap, tile []float32, add bool), scale func(mlo, mhi int)) {
	kern := &im.gemm
	mr := kern.mr
	rowTiles := (m + mr - 1) / mr
	perChunk := min(max(1, kern.mc/mr), (rowTiles+threads*rowChunksPerThread-1)/(threads*rowChunksPerThread))
	chunks := (rowTiles + perChunk - 1) / perChunk
	ks := depthStep(kern.kc, k)
	var next atomic.Int64
	parallel(min(threads, chunks), func(int) {
		sc := im.getScratch()
		defer im.scratch.Put(sc)
		for ci := int(next.Add(1) - 1); ci < chunks; ci = int(next.Add(1) - 1) {
			mlo := ci * perChunk * mr
			mhi := min(m, mlo+perChunk*mr)
			if beta != 0 {
				scale(mlo, mhi)
			}
			for pc := 0; pc < k; pc += ks {
				kb := min(ks, k-pc)
				add := beta != 0 || pc > 0 // beta == 0: the first slice overwrites C
				for ic := mlo; ic < mhi; ic += kern.mc {
					mb := min(kern.mc, mhi-ic)
					ap := sc.apFor(roundUp(mb, mr) * kb)
					packA(kern, transA, mb, kb, alpha, a, lda, ic, pc, ap)
					mul(ic, mb, pc, kb, ap, sc.tile, add)
				}
			}
		}
	})
}

// minColPanelsPerThread is the number of register tiles (row tiles or
// column panels) per goroutine from which sgemm splits C by rows or by
// columns with a single fork-join (gemmRange) instead of sharing each
// packed B̃ block between goroutines (two fork-joins per block). Each
// goroutine then packs the shared operand itself, which costs less than
// the extra synchronisation once every goroutine owns a few tiles.
const minColPanelsPerThread = 2

// depthStep returns the k-slice depth for a product of depth k: k itself
// up to kc + kc/2, else the depth that splits k into equal slices of at
// most kc. A ragged last slice (k = 256 with kc = 192 leaves 64) would
// read and write C once more for a quarter of the work.
func depthStep(kc, k int) int {
	if k <= kc+kc/2 {
		return k
	}
	n := (k + kc - 1) / kc
	return (k + n - 1) / n
}

// gemmRange runs the whole blocked algorithm for rows [mlo, mhi) and
// columns [jlo, jhi) of C on the calling goroutine, with its own packed B̃
// and Ã (pooled scratch).
func gemmRange(im *Impl, transA, transB bool, mlo, mhi, jlo, jhi, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kern := &im.gemm
	s := im.getScratch()
	defer im.scratch.Put(s)
	if beta != 0 {
		scaleRows(mhi-mlo, jhi-jlo, beta, c[mlo*ldc+jlo:], ldc)
	}
	ks := depthStep(kern.kc, k)
	for jc := jlo; jc < jhi; jc += kern.nc {
		nb := min(kern.nc, jhi-jc)
		for pc := 0; pc < k; pc += ks {
			kb := min(ks, k-pc)
			bp := s.bpFor(roundUp(nb, kern.nr) * kb)
			packB(kern, transB, kb, nb, b, ldb, pc, jc, bp)
			add := beta != 0 || pc > 0
			for ic := mlo; ic < mhi; ic += kern.mc {
				mb := min(kern.mc, mhi-ic)
				ap := s.apFor(roundUp(mb, kern.mr) * kb)
				packA(kern, transA, mb, kb, alpha, a, lda, ic, pc, ap)
				macroKernel(kern, mb, kb, 0, nb, ap, bp, c[ic*ldc+jc:], ldc, s.tile, add)
			}
		}
	}
}

// macroKernel multiplies a packed mb×kb block Ã by columns [jlo, jhi) of
// the packed kb×nb block B̃, adding into C (already offset to the block).
func macroKernel(kern *gemmKernel, mb, kb, jlo, jhi int, ap, bp, c []float32, ldc int, tile []float32, add bool) {
	mr, nr := kern.mr, kern.nr
	for jr := jlo; jr < jhi; jr += nr {
		bpan := bp[jr*kb : (jr+nr)*kb]
		nv := min(nr, jhi-jr)
		for ir := 0; ir < mb; ir += mr {
			apan := ap[ir*kb : (ir+mr)*kb]
			microTile(kern, kb, apan, bpan, c[ir*ldc+jr:], ldc, min(mr, mb-ir), nv, tile, add)
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packA copies alpha·op(A)[ic:ic+mb, pc:pc+kb] into dst as ceil(mb/mr)
// panels of kb×mr (zero-padded rows).
func packA(kern *gemmKernel, transA bool, mb, kb int, alpha float32, a []float32, lda, ic, pc int, dst []float32) {
	mr := kern.mr
	for ir := 0; ir < mb; ir += mr {
		pan := dst[ir*kb : (ir+mr)*kb]
		mv := min(mr, mb-ir)
		if transA {
			// A stored k×m: row p holds op(A)[:, p] contiguously.
			if alpha == 1 && mv == mr && copyRows(pan, mr, a[pc*lda+ic+ir:], lda, kb) {
				continue
			}
			for p := 0; p < kb; p++ {
				src := a[(pc+p)*lda+ic+ir:]
				d := pan[p*mr : p*mr+mr]
				if alpha == 1 {
					copy(d[:mv], src[:mv])
				} else {
					for i, v := range src[:mv] {
						d[i] = alpha * v
					}
				}
				clear(d[mv:])
			}
			continue
		}
		kern.packT(pan, mr, a[(ic+ir)*lda+pc:], lda, mv, kb, alpha)
		for p := 0; p < kb && mv < mr; p++ {
			clear(pan[p*mr+mv : p*mr+mr])
		}
	}
}

// packB copies op(B)[pc:pc+kb, jc:jc+nb] into dst as ceil(nb/nr) panels of
// kb×nr (zero-padded columns).
func packB(kern *gemmKernel, transB bool, kb, nb int, b []float32, ldb, pc, jc int, dst []float32) {
	nr := kern.nr
	for jr := 0; jr < nb; jr += nr {
		pan := dst[jr*kb : (jr+nr)*kb]
		nv := min(nr, nb-jr)
		if !transB {
			if nv == nr && copyRows(pan, nr, b[pc*ldb+jc+jr:], ldb, kb) {
				continue
			}
			for p := 0; p < kb; p++ {
				off := (pc+p)*ldb + jc + jr
				d := pan[p*nr : p*nr+nr]
				copy(d, b[off:off+nv])
				clear(d[nv:])
			}
			continue
		}
		// B stored n×k: row j holds op(B)[:, j] contiguously.
		kern.packT(pan, nr, b[(jc+jr)*ldb+pc:], ldb, nv, kb, 1)
		for p := 0; p < kb && nv < nr; p++ {
			clear(pan[p*nr+nv : p*nr+nr])
		}
	}
}

// packTGo is the portable transposing copy and the reference twin of the
// vectorised ones: dst[p·ldd+i] = alpha·src[i·lds+p].
// copyRows copies rows full-width rows of w floats (w one of the
// kernels' panel widths: 6, 12, 16 or 32) from src (stride lds) into dst
// (stride w) with fixed-size array copies, which the compiler inlines,
// instead of a memmove call per row; it reports false, copying nothing,
// for any other width.
func copyRows(dst []float32, w int, src []float32, lds, rows int) bool {
	switch w {
	case 32:
		for p := 0; p < rows; p++ {
			*(*[32]float32)(dst[p*32:]) = *(*[32]float32)(src[p*lds:])
		}
	case 16:
		for p := 0; p < rows; p++ {
			*(*[16]float32)(dst[p*16:]) = *(*[16]float32)(src[p*lds:])
		}
	case 12:
		for p := 0; p < rows; p++ {
			*(*[12]float32)(dst[p*12:]) = *(*[12]float32)(src[p*lds:])
		}
	case 6:
		for p := 0; p < rows; p++ {
			*(*[6]float32)(dst[p*6:]) = *(*[6]float32)(src[p*lds:])
		}
	default:
		return false
	}
	return true
}

func packTGo(dst []float32, ldd int, src []float32, lds, rows, cols int, alpha float32) {
	for i := 0; i < rows; i++ {
		row := src[i*lds : i*lds+cols]
		for p, v := range row {
			dst[p*ldd+i] = alpha * v
		}
	}
}
