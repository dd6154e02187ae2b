//go:build ignore

// gen_asm writes kernels_amd64.s: the register-tile sgemm micro-kernels
// and the level-1/2 AVX2 loops. Run with `go generate` in this directory.
package main

import (
	"fmt"
	"math"
	"os"
	"strings"
)

var out strings.Builder

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

const (
	avx512MR = 12 // rows of the AVX-512 tile (2 zmm accumulators each)
	avx2MR   = 6  // rows of the AVX2 tile (2 ymm accumulators each)
	unroll   = 4  // k steps per loop iteration
	// cacheLine is the x86 cache-line size; prefetchDist how far ahead of
	// the current Ã position lines are prefetched.
	cacheLine    = 64
	prefetchDist = 1024
)

// gemmKernel emits C[0:mr, 0:2·w] += Ã·B̃ with w-float vectors of register
// prefix reg ("Z" or "Y").
func gemmKernel(name string, mr int, reg string, vecBytes int) {
	nrBytes := 2 * vecBytes
	accs := 2 * mr
	b0, b1 := accs, accs+1
	t0, t1 := accs+2, accs+3
	r := func(i int) string { return fmt.Sprintf("%s%d", reg, i) }
	zero := "VXORPS"
	if reg == "Z" {
		zero = "VPXORD"
	}
	p("// func %s(k int, a, b, c *float32, ldc int, add bool)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-41", name)
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ b+16(FP), DI")
	p("\tMOVQ c+24(FP), DX")
	p("\tMOVQ ldc+32(FP), R8")
	p("\tSHLQ $2, R8")
	// Pull the C tile toward L1 while the FMAs run.
	p("\tMOVQ DX, R9")
	for i := 0; i < mr; i++ {
		p("\tPREFETCHT0 (R9)")
		p("\tPREFETCHT0 %d(R9)", nrBytes-4)
		if i < mr-1 {
			p("\tADDQ R8, R9")
		}
	}
	for i := 0; i < accs; i++ {
		p("\t%s %s, %s, %s", zero, r(i), r(i), r(i))
	}
	step := func(s int) {
		ao, bo := s*mr*4, s*nrBytes
		p("\tVMOVUPS %d(DI), %s", bo, r(b0))
		p("\tVMOVUPS %d(DI), %s", bo+vecBytes, r(b1))
		for i := 0; i < mr; i++ {
			t := r(t0)
			if i%2 == 1 {
				t = r(t1)
			}
			p("\tVBROADCASTSS %d(SI), %s", ao+4*i, t)
			p("\tVFMADD231PS %s, %s, %s", t, r(b0), r(2*i))
			p("\tVFMADD231PS %s, %s, %s", t, r(b1), r(2*i+1))
		}
	}
	p("\tMOVQ CX, BX")
	p("\tSHRQ $%d, BX", 2)
	p("\tJZ tail")
	p("loop:")
	// Ã streams from L2: touch every line it will need prefetchDist
	// bytes ahead. B̃'s micro-panel is meant to stay in L1.
	for off := 0; off < unroll*mr*4; off += cacheLine {
		p("\tPREFETCHT0 %d(SI)", prefetchDist+off)
	}
	for s := 0; s < unroll; s++ {
		step(s)
	}
	p("\tADDQ $%d, SI", unroll*mr*4)
	p("\tADDQ $%d, DI", unroll*nrBytes)
	p("\tDECQ BX")
	p("\tJNZ loop")
	p("tail:")
	p("\tANDQ $%d, CX", unroll-1)
	p("\tJZ store")
	p("loop1:")
	step(0)
	p("\tADDQ $%d, SI", mr*4)
	p("\tADDQ $%d, DI", nrBytes)
	p("\tDECQ CX")
	p("\tJNZ loop1")
	p("store:")
	p("\tMOVBLZX add+40(FP), AX")
	p("\tTESTL AX, AX")
	p("\tJZ overwrite")
	for i := 0; i < mr; i++ {
		p("\tVADDPS (DX), %s, %s", r(2*i), r(2*i))
		p("\tVMOVUPS %s, (DX)", r(2*i))
		p("\tVADDPS %d(DX), %s, %s", vecBytes, r(2*i+1), r(2*i+1))
		p("\tVMOVUPS %s, %d(DX)", r(2*i+1), vecBytes)
		if i < mr-1 {
			p("\tADDQ R8, DX")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("overwrite:") // first k-slice with beta == 0: C is not read
	for i := 0; i < mr; i++ {
		p("\tVMOVUPS %s, (DX)", r(2*i))
		p("\tVMOVUPS %s, %d(DX)", r(2*i+1), vecBytes)
		if i < mr-1 {
			p("\tADDQ R8, DX")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// hsum reduces Y0 to its lane sum in X0.
func hsum() {
	p("\tVEXTRACTF128 $1, Y0, X1")
	p("\tVADDPS X1, X0, X0")
	p("\tVHADDPS X0, X0, X0")
	p("\tVHADDPS X0, X0, X0")
}

func level1() {
	// sdot: 4 accumulators × 8 lanes, then single vectors; n % 8 == 0.
	p("// func sdotAVX2(n int, x, y *float32) float32")
	p("TEXT ·sdotAVX2(SB), NOSPLIT, $0-28")
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ y+16(FP), DI")
	for i := 0; i < 4; i++ {
		p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
	}
	p("\tMOVQ CX, BX")
	p("\tSHRQ $5, BX")
	p("\tJZ tail")
	p("loop:")
	for i := 0; i < 4; i++ {
		p("\tVMOVUPS %d(SI), Y%d", 32*i, 4+i)
		p("\tVFMADD231PS %d(DI), Y%d, Y%d", 32*i, 4+i, i)
	}
	p("\tADDQ $128, SI")
	p("\tADDQ $128, DI")
	p("\tDECQ BX")
	p("\tJNZ loop")
	p("tail:")
	p("\tANDQ $31, CX")
	p("\tSHRQ $3, CX")
	p("\tJZ done")
	p("loop1:")
	p("\tVMOVUPS (SI), Y4")
	p("\tVFMADD231PS (DI), Y4, Y0")
	p("\tADDQ $32, SI")
	p("\tADDQ $32, DI")
	p("\tDECQ CX")
	p("\tJNZ loop1")
	p("done:")
	p("\tVADDPS Y1, Y0, Y0")
	p("\tVADDPS Y3, Y2, Y2")
	p("\tVADDPS Y2, Y0, Y0")
	hsum()
	p("\tVZEROUPPER")
	p("\tMOVSS X0, ret+24(FP)")
	p("\tRET")
	p("")

	// sdot4: four rows of A against one x, two vectors per row per step.
	p("// func sdot4AVX2(n int, a *float32, lda int, x *float32, out *[4]float32)")
	p("TEXT ·sdot4AVX2(SB), NOSPLIT, $0-40")
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ lda+16(FP), R8")
	p("\tMOVQ x+24(FP), DI")
	p("\tSHLQ $2, R8")
	p("\tLEAQ (SI)(R8*1), R9")
	p("\tLEAQ (R9)(R8*1), R10")
	p("\tLEAQ (R10)(R8*1), R11")
	for i := 0; i < 8; i++ {
		p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
	}
	rows := []string{"SI", "R9", "R10", "R11"}
	p("\tXORQ AX, AX")
	p("\tMOVQ CX, BX")
	p("\tSHRQ $4, BX")
	p("\tJZ tail")
	p("loop:")
	p("\tVMOVUPS (DI)(AX*4), Y8")
	p("\tVMOVUPS 32(DI)(AX*4), Y9")
	for r, base := range rows {
		p("\tVFMADD231PS (%s)(AX*4), Y8, Y%d", base, r)
		p("\tVFMADD231PS 32(%s)(AX*4), Y9, Y%d", base, 4+r)
	}
	p("\tADDQ $16, AX")
	p("\tDECQ BX")
	p("\tJNZ loop")
	p("tail:")
	p("\tTESTQ $8, CX")
	p("\tJZ done")
	p("\tVMOVUPS (DI)(AX*4), Y8")
	for r, base := range rows {
		p("\tVFMADD231PS (%s)(AX*4), Y8, Y%d", base, r)
	}
	p("done:")
	p("\tMOVQ out+32(FP), DX")
	for r := 0; r < 4; r++ {
		p("\tVADDPS Y%d, Y%d, Y%d", 4+r, r, r)
	}
	// Reduce Y0..Y3 to four sums in X0.
	p("\tVHADDPS Y1, Y0, Y0")
	p("\tVHADDPS Y3, Y2, Y2")
	p("\tVHADDPS Y2, Y0, Y0")
	p("\tVEXTRACTF128 $1, Y0, X1")
	p("\tVADDPS X1, X0, X0")
	p("\tVMOVUPS X0, (DX)")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")

	// saxpy: y += alpha·x, 32 floats per step then 8; n % 8 == 0.
	p("// func saxpyAVX2(n int, alpha float32, x, y *float32)")
	p("TEXT ·saxpyAVX2(SB), NOSPLIT, $0-32")
	p("\tMOVQ n+0(FP), CX")
	p("\tVBROADCASTSS alpha+8(FP), Y15")
	p("\tMOVQ x+16(FP), SI")
	p("\tMOVQ y+24(FP), DI")
	p("\tMOVQ CX, BX")
	p("\tSHRQ $5, BX")
	p("\tJZ tail")
	p("loop:")
	for i := 0; i < 4; i++ {
		p("\tVMOVUPS %d(DI), Y%d", 32*i, i)
		p("\tVFMADD231PS %d(SI), Y15, Y%d", 32*i, i)
		p("\tVMOVUPS Y%d, %d(DI)", i, 32*i)
	}
	p("\tADDQ $128, SI")
	p("\tADDQ $128, DI")
	p("\tDECQ BX")
	p("\tJNZ loop")
	p("tail:")
	p("\tANDQ $31, CX")
	p("\tSHRQ $3, CX")
	p("\tJZ done")
	p("loop1:")
	p("\tVMOVUPS (DI), Y0")
	p("\tVFMADD231PS (SI), Y15, Y0")
	p("\tVMOVUPS Y0, (DI)")
	p("\tADDQ $32, SI")
	p("\tADDQ $32, DI")
	p("\tDECQ CX")
	p("\tJNZ loop1")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// dotRows emits y[r] = Σ_j w[r·ldw + j]·x[j] for r < rows, n a positive
// multiple of 8: one weight row at a time (one sequential stream for the
// prefetcher), eight ymm accumulators over 64 floats per step, then 8 at
// a time. The small-m decode path of PackedMatrix.
func dotRows() {
	p("// func sdotRowsAVX2(rows, n int, w *float32, ldw int, x, y *float32)")
	p("TEXT ·sdotRowsAVX2(SB), NOSPLIT, $0-48")
	p("\tMOVQ rows+0(FP), R8")
	p("\tMOVQ n+8(FP), R9")
	p("\tMOVQ w+16(FP), SI")
	p("\tMOVQ ldw+24(FP), R10")
	p("\tSHLQ $2, R10")
	p("\tMOVQ x+32(FP), R12")
	p("\tMOVQ y+40(FP), DX")
	p("\tSHLQ $2, R9")
	p("\tTESTQ R8, R8")
	p("\tJZ done")
	p("row:")
	for i := 0; i < 8; i++ {
		p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
	}
	p("\tXORQ AX, AX")
	p("\tMOVQ R9, CX")
	p("\tSUBQ $256, CX")
	p("\tJLT tail")
	p("loop8:")
	for i := 0; i < 8; i++ {
		p("\tVMOVUPS %d(SI)(AX*1), Y%d", 32*i, 8+i)
	}
	for i := 0; i < 8; i++ {
		p("\tVFMADD231PS %d(R12)(AX*1), Y%d, Y%d", 32*i, 8+i, i)
	}
	p("\tADDQ $256, AX")
	p("\tCMPQ AX, CX")
	p("\tJLE loop8")
	p("tail:")
	p("\tCMPQ AX, R9")
	p("\tJGE sum")
	p("\tVMOVUPS (SI)(AX*1), Y8")
	p("\tVFMADD231PS (R12)(AX*1), Y8, Y0")
	p("\tADDQ $32, AX")
	p("\tJMP tail")
	p("sum:")
	for i := 0; i < 4; i++ {
		p("\tVADDPS Y%d, Y%d, Y%d", i+4, i, i)
	}
	p("\tVADDPS Y1, Y0, Y0")
	p("\tVADDPS Y3, Y2, Y2")
	p("\tVADDPS Y2, Y0, Y0")
	hsum()
	p("\tVMOVSS X0, (DX)")
	p("\tADDQ $4, DX")
	p("\tADDQ R10, SI")
	p("\tDECQ R8")
	p("\tJNZ row")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// Panel gemv: the small-m (decode) product against pre-packed B̃ panels.
const (
	// panelPrefetch is how far ahead of the current panel row the gemv
	// kernels prefetch (bytes): the best of a sweep from 256 B to 8 KiB
	// (4 KiB lost ~20% of the decode stream on the AVX2 machine).
	panelPrefetch = 512
	// maxPanelAccs bounds the accumulators of a panel-gemv kernel
	// (m·nr/8·unroll): 12 of the 16 ymm registers, the rest for the
	// B̃ row and the broadcasts of x.
	maxPanelAccs = 12
)

// panelGemvM lists, per panel width nr, the activation-row counts m that
// get a kernel; larger m runs in passes (the panel is re-read from L1/L2).
var panelGemvM = map[int][]int{16: {1, 2, 3, 4}, 32: {1, 2}}

// gemvPanels emits sgemvP<nr>M<m>: for npan consecutive panels of k×nr
// floats, y[i, j·nr : (j+1)·nr] = Σ_p x[i, p]·panel_j[p, :] for i < m,
// overwriting y. One sequential stream over the panels (prefetched
// panelPrefetch bytes ahead); the k loop is unrolled u times with
// separate accumulators to hide the FMA latency, summed at the end.
func gemvPanels(nr, m int) {
	h := nr / 8 // ymm vectors per panel row
	u := 1
	for u*2*m*h <= maxPanelAccs && u < 4 {
		u *= 2
	}
	acc := func(uu, i, v int) int { return (uu*m+i)*h + v }
	nacc := u * m * h
	wreg := nacc     // h registers for the B̃ row
	breg := nacc + h // broadcast registers from here to Y15
	nb := 16 - breg
	if nb < 1 {
		panic(fmt.Sprintf("gemvPanels nr=%d m=%d: out of registers", nr, m))
	}
	rowBytes := nr * 4
	name := fmt.Sprintf("sgemvP%dM%d", nr, m)
	xrows := []string{"DI", "R11", "R12", "R13"}
	p("// func %s(k int, x *float32, ldx int, pan *float32, npan int, y *float32, ldy int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-56", name)
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ x+8(FP), DI")
	p("\tMOVQ ldx+16(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ pan+24(FP), SI")
	p("\tMOVQ npan+32(FP), R10")
	p("\tMOVQ y+40(FP), DX")
	p("\tMOVQ ldy+48(FP), R9")
	p("\tSHLQ $2, R9")
	for i := 1; i < m; i++ {
		p("\tLEAQ (%s)(R8*1), %s", xrows[i-1], xrows[i])
	}
	p("\tLEAQ (R9)(R9*2), R8") // 3·ldy bytes
	p("\tTESTQ R10, R10")
	p("\tJZ done")
	p("panel:")
	for i := 0; i < nacc; i++ {
		p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
	}
	p("\tXORQ AX, AX")
	bc := 0
	step := func(uu int, xoff int) {
		// B̃ vector v of this step: with one row each is used once, so
		// the FMA reads it straight from memory (fewer µops than a load
		// and a register FMA); with more rows it is loaded once.
		wvec := func(v int) string { return fmt.Sprintf("%d(SI)", uu*rowBytes+32*v) }
		if m > 1 {
			for v := 0; v < h; v++ {
				p("\tVMOVUPS %s, Y%d", wvec(v), wreg+v)
			}
			wvec = func(v int) string { return fmt.Sprintf("Y%d", wreg+v) }
		}
		for i := 0; i < m; i++ {
			b := breg + bc%nb
			bc++
			p("\tVBROADCASTSS %d(%s)(AX*1), Y%d", xoff, xrows[i], b)
			for v := 0; v < h; v++ {
				p("\tVFMADD231PS %s, Y%d, Y%d", wvec(v), b, acc(uu, i, v))
			}
		}
	}
	p("\tMOVQ CX, BX")
	if u > 1 {
		p("\tSHRQ $%d, BX", map[int]int{2: 1, 4: 2}[u])
	} else {
		p("\tTESTQ BX, BX") // SHRQ $0 would leave the flags alone
	}
	p("\tJZ tail")
	p("loop:")
	for off := 0; off < u*rowBytes; off += cacheLine {
		p("\tPREFETCHT0 %d(SI)", panelPrefetch+off)
	}
	for uu := 0; uu < u; uu++ {
		step(uu, 4*uu)
	}
	p("\tADDQ $%d, SI", u*rowBytes)
	p("\tADDQ $%d, AX", 4*u)
	p("\tDECQ BX")
	p("\tJNZ loop")
	p("tail:")
	if u > 1 {
		p("\tMOVQ CX, BX")
		p("\tANDQ $%d, BX", u-1)
		p("\tJZ reduce")
		p("loop1:")
		step(0, 0)
		p("\tADDQ $%d, SI", rowBytes)
		p("\tADDQ $4, AX")
		p("\tDECQ BX")
		p("\tJNZ loop1")
		p("reduce:")
		for uu := 1; uu < u; uu++ {
			for i := 0; i < m; i++ {
				for v := 0; v < h; v++ {
					p("\tVADDPS Y%d, Y%d, Y%d", acc(uu, i, v), acc(0, i, v), acc(0, i, v))
				}
			}
		}
	}
	yrow := []string{"(DX)", "(DX)(R9*1)", "(DX)(R9*2)", "(DX)(R8*1)"}
	for i := 0; i < m; i++ {
		for v := 0; v < h; v++ {
			p("\tVMOVUPS Y%d, %d%s", acc(0, i, v), 32*v, yrow[i])
		}
	}
	p("\tADDQ $%d, DX", rowBytes)
	p("\tDECQ R10")
	p("\tJNZ panel")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// rotateHalf emits rotateHalfAVX2: HF's rotate_half RoPE on one head,
// dst[:h] = x0·cos − x1·sin, dst[h:2h] = x1·cos + x0·sin with x0 = x[:h],
// x1 = x[h:2h], for the first n (a positive multiple of 8) of the h
// pairs. Separate multiplies and an add (no FMA), so it rounds exactly as
// the Go twin rotateHalfGo.
func rotateHalf() {
	p("// func rotateHalfAVX2(dst, x, cos, sin *float32, half, n int)")
	p("TEXT ·rotateHalfAVX2(SB), NOSPLIT, $0-48")
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ cos+16(FP), R8")
	p("\tMOVQ sin+24(FP), R9")
	p("\tMOVQ half+32(FP), CX")
	p("\tLEAQ (SI)(CX*4), R10")
	p("\tLEAQ (DI)(CX*4), R11")
	p("\tMOVQ n+40(FP), CX")
	p("\tXORQ AX, AX")
	p("loop:")
	p("\tVMOVUPS (SI)(AX*4), Y0")
	p("\tVMOVUPS (R10)(AX*4), Y1")
	p("\tVMOVUPS (R8)(AX*4), Y2")
	p("\tVMOVUPS (R9)(AX*4), Y3")
	p("\tVMULPS Y2, Y0, Y4")
	p("\tVMULPS Y3, Y1, Y5")
	p("\tVSUBPS Y5, Y4, Y4")
	p("\tVMULPS Y2, Y1, Y6")
	p("\tVMULPS Y3, Y0, Y7")
	p("\tVADDPS Y7, Y6, Y6")
	p("\tVMOVUPS Y4, (DI)(AX*4)")
	p("\tVMOVUPS Y6, (R11)(AX*4)")
	p("\tADDQ $8, AX")
	p("\tCMPQ AX, CX")
	p("\tJLT loop")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// reduction emits a float32 reduction over x[0:n], n a positive multiple
// of 8, with four independent ymm accumulators (32 floats per step):
// kind "sum" Σx, "sumsq" Σx², "sqdev" Σ(x−c)² (c broadcast from the
// argument after n) and "max" (NaN lanes of x ignored: VMAXPS returns its
// second source, the accumulator, when x is NaN).
func reduction(name, kind string) {
	args := "$0-20"
	if kind == "sqdev" {
		args = "$0-28"
	}
	p("// func %s(x *float32, n int%s) float32", name, map[bool]string{true: ", c float32", false: ""}[kind == "sqdev"])
	p("TEXT ·%s(SB), NOSPLIT, %s", name, args)
	p("\tMOVQ x+0(FP), SI")
	p("\tMOVQ n+8(FP), CX")
	if kind == "sqdev" {
		p("\tVBROADCASTSS c+16(FP), Y15")
	}
	for i := 0; i < 4; i++ {
		if kind == "max" {
			p("\tVMOVUPS %s, Y%d", vc("neginf"), i)
		} else {
			p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
		}
	}
	acc := func(off, a, t int) {
		switch kind {
		case "sum":
			p("\tVADDPS %d(SI), Y%d, Y%d", off, a, a)
		case "sumsq":
			p("\tVMOVUPS %d(SI), Y%d", off, t)
			p("\tVFMADD231PS Y%d, Y%d, Y%d", t, t, a)
		case "sqdev":
			p("\tVMOVUPS %d(SI), Y%d", off, t)
			p("\tVSUBPS Y15, Y%d, Y%d", t, t)
			p("\tVFMADD231PS Y%d, Y%d, Y%d", t, t, a)
		case "max":
			p("\tVMOVUPS %d(SI), Y%d", off, t)
			p("\tVMAXPS Y%d, Y%d, Y%d", a, t, a)
		}
	}
	p("\tMOVQ CX, BX")
	p("\tSHRQ $5, BX")
	p("\tJZ tail")
	p("loop:")
	for i := 0; i < 4; i++ {
		acc(32*i, i, 4+i)
	}
	p("\tADDQ $128, SI")
	p("\tDECQ BX")
	p("\tJNZ loop")
	p("tail:")
	p("\tANDQ $31, CX")
	p("\tSHRQ $3, CX")
	p("\tJZ done")
	p("loop1:")
	acc(0, 0, 4)
	p("\tADDQ $32, SI")
	p("\tDECQ CX")
	p("\tJNZ loop1")
	p("done:")
	if kind == "max" {
		p("\tVMAXPS Y1, Y0, Y0")
		p("\tVMAXPS Y3, Y2, Y2")
		p("\tVMAXPS Y2, Y0, Y0")
		p("\tVEXTRACTF128 $1, Y0, X1")
		p("\tVMAXPS X1, X0, X0")
		p("\tVPERMILPS $0x4e, X0, X1")
		p("\tVMAXPS X1, X0, X0")
		p("\tVPERMILPS $0xb1, X0, X1")
		p("\tVMAXPS X1, X0, X0")
	} else {
		p("\tVADDPS Y1, Y0, Y0")
		p("\tVADDPS Y3, Y2, Y2")
		p("\tVADDPS Y2, Y0, Y0")
		hsum()
	}
	p("\tVZEROUPPER")
	p("\tMOVSS X0, ret+%d(FP)", map[bool]int{true: 24, false: 16}[kind == "sqdev"])
	p("\tRET")
	p("")
}

// normApply emits the elementwise second pass of the norms over n (a
// positive multiple of 8) floats, 16 per step then 8:
//
//	rmsApplyAVX2: dst = x·s·w
//	lnApplyAVX2:  dst = (x − c)·s·w + b
func normApply(name string, layer bool) {
	if layer {
		p("// func %s(dst, x, w, b *float32, n int, c, s float32)", name)
		p("TEXT ·%s(SB), NOSPLIT, $0-48", name)
		p("\tMOVQ b+24(FP), R8")
		p("\tMOVQ n+32(FP), CX")
		p("\tVBROADCASTSS c+40(FP), Y14")
		p("\tVBROADCASTSS s+44(FP), Y15")
	} else {
		p("// func %s(dst, x, w *float32, n int, s float32)", name)
		p("TEXT ·%s(SB), NOSPLIT, $0-36", name)
		p("\tMOVQ n+24(FP), CX")
		p("\tVBROADCASTSS s+32(FP), Y15")
	}
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ w+16(FP), DX")
	p("\tXORQ AX, AX")
	one := func(off, r int) {
		p("\tVMOVUPS %d(SI)(AX*4), Y%d", off, r)
		if layer {
			p("\tVSUBPS Y14, Y%d, Y%d", r, r)
		}
		p("\tVMULPS Y15, Y%d, Y%d", r, r)
		if layer {
			p("\tVMOVUPS %d(DX)(AX*4), Y%d", off, r+2)
			p("\tVFMADD213PS %d(R8)(AX*4), Y%d, Y%d", off, r+2, r)
		} else {
			p("\tVMULPS %d(DX)(AX*4), Y%d, Y%d", off, r, r)
		}
		p("\tVMOVUPS Y%d, %d(DI)(AX*4)", r, off)
	}
	p("\tMOVQ CX, BX")
	p("\tSHRQ $4, BX")
	p("\tJZ tail")
	p("loop:")
	one(0, 0)
	one(32, 1)
	p("\tADDQ $16, AX")
	p("\tDECQ BX")
	p("\tJNZ loop")
	p("tail:")
	p("\tTESTQ $8, CX")
	p("\tJZ done")
	one(0, 0)
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// transposes emits the 8×8 and 4×8 transposing copies used to pack
// panels: dst[p·ldd + i] = alpha·src[i·lds + p].
func transposes() {
	unpack := func(rows int) {
		// Y0..Y(rows-1) hold the source rows; leaves s0..s3 (and s4..s7
		// for eight rows) in Y8..Y15 with columns interleaved by four.
		for pair := 0; pair < rows/2; pair++ {
			a, b := 2*pair, 2*pair+1
			p("\tVUNPCKLPS Y%d, Y%d, Y%d", b, a, 8+a)
			p("\tVUNPCKHPS Y%d, Y%d, Y%d", b, a, 8+b)
		}
		for quad := 0; quad < rows/4; quad++ {
			t := 8 + 4*quad // t0..t3 of this quad
			s := 4 * quad   // s0..s3 written to Y0..Y3 (+4)
			p("\tVSHUFPS $0x44, Y%d, Y%d, Y%d", t+2, t, s)
			p("\tVSHUFPS $0xEE, Y%d, Y%d, Y%d", t+2, t, s+1)
			p("\tVSHUFPS $0x44, Y%d, Y%d, Y%d", t+3, t+1, s+2)
			p("\tVSHUFPS $0xEE, Y%d, Y%d, Y%d", t+3, t+1, s+3)
		}
	}
	load := func(rows int) {
		p("\tMOVQ src+0(FP), SI")
		p("\tMOVQ lds+8(FP), R8")
		p("\tMOVQ dst+16(FP), DI")
		p("\tMOVQ ldd+24(FP), R9")
		p("\tVBROADCASTSS alpha+32(FP), Y15")
		p("\tSHLQ $2, R8")
		p("\tSHLQ $2, R9")
		for i := 0; i < rows; i++ {
			// The rows are far apart (one stride each): prefetch the
			// line two cache lines ahead in each, which the copies of
			// the following blocks will read.
			p("\tPREFETCHT0 %d(SI)", 2*cacheLine)
			p("\tVMULPS (SI), Y15, Y%d", i)
			if i < rows-1 {
				p("\tADDQ R8, SI")
			}
		}
	}
	// lanes8 joins the 128-bit halves after unpack(8): Y0..Y3 = s0..s3 of
	// rows 0-3, Y4..Y7 = s0..s3 of rows 4-7 → output rows in Y8..Y15.
	lanes8 := func() {
		for q := 0; q < 4; q++ {
			p("\tVPERM2F128 $0x20, Y%d, Y%d, Y%d", 4+q, q, 8+q)
		}
		for q := 0; q < 4; q++ {
			p("\tVPERM2F128 $0x31, Y%d, Y%d, Y%d", 4+q, q, 12+q)
		}
	}
	// store8 writes the eight output rows, each with row(r).
	store8 := func(row func(r int)) {
		for r := 0; r < 8; r++ {
			row(r)
			if r < 7 {
				p("\tADDQ R9, DI")
			}
		}
		p("\tVZEROUPPER")
		p("\tRET")
		p("")
	}
	p("// func transpose8x8(src *float32, lds int, dst *float32, ldd int, alpha float32)")
	p("TEXT ·transpose8x8(SB), NOSPLIT, $0-36")
	load(8)
	unpack(8)
	lanes8()
	store8(func(r int) { p("\tVMOVUPS Y%d, (DI)", 8+r) })
	// 6×8: the AVX2 register tile has six rows, so packing Ã transposes
	// six rows at a time. Two zero rows make it an 8×8 transpose; each
	// output row keeps its first six floats (16 + 8 bytes stored).
	p("// func transpose6x8(src *float32, lds int, dst *float32, ldd int, alpha float32)")
	p("TEXT ·transpose6x8(SB), NOSPLIT, $0-36")
	load(6)
	p("\tVXORPS Y6, Y6, Y6")
	p("\tVXORPS Y7, Y7, Y7")
	unpack(8)
	lanes8()
	store8(func(r int) {
		p("\tVMOVUPS X%d, (DI)", 8+r)
		p("\tVEXTRACTF128 $1, Y%d, X0", 8+r)
		p("\tVMOVQ X0, 16(DI)")
	})
	p("// func transpose4x8(src *float32, lds int, dst *float32, ldd int, alpha float32)")
	p("TEXT ·transpose4x8(SB), NOSPLIT, $0-36")
	load(4)
	unpack(4)
	// Y0..Y3 = s0..s3: low halves are output rows 0-3, high halves 4-7.
	for q := 0; q < 4; q++ {
		p("\tVMOVUPS X%d, (DI)", q)
		p("\tADDQ R9, DI")
	}
	for q := 0; q < 4; q++ {
		p("\tVEXTRACTF128 $1, Y%d, (DI)", q)
		if q < 3 {
			p("\tADDQ R9, DI")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// Vector-math constants, each replicated over 8 lanes in ·vconst so that
// any VEX instruction can take them as a 32-byte memory operand.
var vconsts = []struct {
	name string
	v    float32
	bits uint32 // used instead of v when non-zero
}{
	{"log2e", 1.44269504088896340736, 0},
	{"magic", 12582912, 0},
	{"ln2hi", 0.693359375, 0},
	{"ln2lo", -2.12194440e-4, 0},
	{"c7", 1.0 / 5040, 0},
	{"c6", 1.0 / 720, 0},
	{"c5", 1.0 / 120, 0},
	{"c4", 1.0 / 24, 0},
	{"c3", 1.0 / 6, 0},
	{"c2", 1.0 / 2, 0},
	{"one", 1, 0},
	{"explo", -86, 0}, // below: exactly 0 (keeps 2^n normal)
	{"exphi", 88, 0},  // above: clamped, so 2^n stays ≤ 2^127
	{"half", 0.5, 0},
	{"two", 2, 0},
	{"absmask", 0, 0x7fffffff},
	{"signmask", 0, 0x80000000},
	{"negsqrt1_2", -0.70710678118654752440, 0},
	{"invstep", 1 / 0.625, 0}, // 1/erfcStep
	{"step", 0.625, 0},
	{"center0", 1 + 0.5*0.625, 0}, // erfSplit + erfcStep/2
	{"erfczero", 6, 0},
	{"seven", 0, 7}, // int32 7: last erfc interval
	{"tanh2c", 2 * 0.79788456080286535588, 0},
	{"tanhk", 0.044715, 0},
	{"neginf", 0, 0xff800000},
}

// vc returns the memory operand of a constant.
func vc(name string) string {
	for i, c := range vconsts {
		if c.name == name {
			return fmt.Sprintf("·vconst+%d(SB)", 32*i)
		}
	}
	panic(name)
}

func emitConsts() {
	for i, c := range vconsts {
		bits := c.bits
		if bits == 0 {
			bits = math.Float32bits(c.v)
		}
		for lane := 0; lane < 8; lane++ {
			p("DATA ·vconst+%d(SB)/4, $0x%08x", 32*i+4*lane, bits)
		}
	}
	p("GLOBL ·vconst(SB), RODATA|NOPTR, $%d", 32*len(vconsts))
	p("")
}

// exp8 emits Y0 = e^Y0 for 8 lanes (clobbers Y1, Y2, Y13): Cody–Waite
// reduction, degree-7 polynomial, exponent added to the bits. Inputs below
// explo give exactly 0; NaN propagates.
func exp8() {
	p("\tVMOVUPS %s, Y1", vc("exphi"))
	p("\tVMINPS Y0, Y1, Y0")
	p("\tVMOVUPS %s, Y1", vc("explo"))
	p("\tVCMPPS $1, Y1, Y0, Y13") // Y13 = x < explo
	p("\tVMAXPS Y0, Y1, Y0")
	p("\tVMOVUPS %s, Y1", vc("magic"))
	p("\tVFMADD231PS %s, Y0, Y1", vc("log2e")) // t = x·log2e + magic
	p("\tVSUBPS %s, Y1, Y2", vc("magic"))      // n
	p("\tVFNMADD231PS %s, Y2, Y0", vc("ln2hi"))
	p("\tVFNMADD231PS %s, Y2, Y0", vc("ln2lo")) // r
	p("\tVMOVUPS %s, Y2", vc("c7"))
	for _, c := range []string{"c6", "c5", "c4", "c3", "c2", "one", "one"} {
		p("\tVFMADD213PS %s, Y0, Y2", vc(c))
	}
	p("\tVPSUBD %s, Y1, Y1", vc("magic"))
	p("\tVPSLLD $23, Y1, Y1")
	p("\tVPADDD Y1, Y2, Y0")
	p("\tVANDNPS Y0, Y13, Y0") // zero the underflowed lanes
}

func vecLoopHead(frame int) {
	_ = frame
	p("\tMOVQ x+0(FP), SI")
	p("\tMOVQ n+8(FP), CX")
	p("\tSHRQ $3, CX")
	p("\tJZ done")
}

// sigmoidMul emits x[i] ← x[i]·σ(arg(x[i])) for n % 8 == 0: SiLU and
// QuickGELU (arg = k·x) or the tanh GELU (arg = 2√(2/π)·(x + 0.044715x³)).
func sigmoidMul(name string, tanhForm bool) {
	if tanhForm {
		p("// func %s(x *float32, n int)", name)
		p("TEXT ·%s(SB), NOSPLIT, $0-16", name)
	} else {
		p("// func %s(x *float32, n int, k float32)", name)
		p("TEXT ·%s(SB), NOSPLIT, $0-20", name)
		p("\tVBROADCASTSS k+16(FP), Y5")
		p("\tVXORPS %s, Y5, Y5", vc("signmask")) // −k
	}
	vecLoopHead(0)
	p("loop:")
	p("\tVMOVUPS (SI), Y3")
	if tanhForm {
		p("\tVMULPS Y3, Y3, Y0") // x²
		p("\tVMOVUPS %s, Y1", vc("one"))
		p("\tVFMADD231PS %s, Y0, Y1", vc("tanhk")) // 1 + k·x²
		p("\tVMULPS Y3, Y1, Y0")                   // x·(1 + k·x²)
		p("\tVMULPS %s, Y0, Y0", vc("tanh2c"))
		p("\tVXORPS %s, Y0, Y0", vc("signmask")) // −2u
	} else {
		p("\tVMULPS Y3, Y5, Y0") // −k·x
	}
	exp8()
	p("\tVADDPS %s, Y0, Y0", vc("one"))
	p("\tVDIVPS Y0, Y3, Y0") // x / (1 + e^{−arg})
	p("\tVMOVUPS Y0, (SI)")
	p("\tADDQ $32, SI")
	p("\tDECQ CX")
	p("\tJNZ loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// siluGrad emits SwiGLU's backward for n % 8 == 0 lanes, with
// s = 1/(1 + e^{−g}): du = dy·g·s and dg = dy·u·s·(1 + g·(1 − s)), each
// product and sum rounded in the order siluGradGo writes it (no fused
// multiply-add), so the two agree to the exp.
func siluGrad() {
	p("// func siluGradAVX2(dgp, dup, gp, up, dyp *float32, n int)")
	p("TEXT ·siluGradAVX2(SB), NOSPLIT, $0-48")
	p("\tMOVQ dgp+0(FP), DI")
	p("\tMOVQ dup+8(FP), R8")
	p("\tMOVQ gp+16(FP), SI")
	p("\tMOVQ up+24(FP), R9")
	p("\tMOVQ dyp+32(FP), R10")
	p("\tMOVQ n+40(FP), CX")
	p("\tSHRQ $3, CX")
	p("\tJZ done")
	p("loop:")
	p("\tVMOVUPS (SI), Y3")                  // g
	p("\tVXORPS %s, Y3, Y0", vc("signmask")) // −g
	exp8()
	p("\tVADDPS %s, Y0, Y0", vc("one"))
	p("\tVMOVUPS %s, Y4", vc("one"))
	p("\tVDIVPS Y0, Y4, Y4") // s = 1 / (1 + e^{−g})
	p("\tVMOVUPS (R10), Y5") // dy
	p("\tVMULPS Y3, Y5, Y6") // dy·g
	p("\tVMULPS Y4, Y6, Y6") // ·s
	p("\tVMOVUPS Y6, (R8)")  // du
	p("\tVMOVUPS %s, Y7", vc("one"))
	p("\tVSUBPS Y4, Y7, Y7") // 1 − s
	p("\tVMULPS Y3, Y7, Y7") // g·(1 − s)
	p("\tVADDPS %s, Y7, Y7", vc("one"))
	p("\tVMULPS (R9), Y5, Y8") // dy·u
	p("\tVMULPS Y4, Y8, Y8")   // ·s
	p("\tVMULPS Y7, Y8, Y8")   // ·(1 + g·(1 − s))
	p("\tVMOVUPS Y8, (DI)")    // dg
	for _, r := range []string{"DI", "R8", "SI", "R9", "R10"} {
		p("\tADDQ $32, %s", r)
	}
	p("\tDECQ CX")
	p("\tJNZ loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// expSub emits x[i] ← e^{x[i]−m} and returns Σ over n % 8 == 0 lanes.
func expSub() {
	p("// func expSubAVX2(x *float32, n int, m float32) float32")
	p("TEXT ·expSubAVX2(SB), NOSPLIT, $0-28")
	p("\tVBROADCASTSS m+16(FP), Y5")
	p("\tVXORPS Y6, Y6, Y6")
	vecLoopHead(0)
	p("loop:")
	p("\tVMOVUPS (SI), Y0")
	p("\tVSUBPS Y5, Y0, Y0")
	exp8()
	p("\tVMOVUPS Y0, (SI)")
	p("\tVADDPS Y0, Y6, Y6")
	p("\tADDQ $32, SI")
	p("\tDECQ CX")
	p("\tJNZ loop")
	p("done:")
	p("\tVEXTRACTF128 $1, Y6, X1")
	p("\tVADDPS X1, X6, X0")
	p("\tVHADDPS X0, X0, X0")
	p("\tVHADDPS X0, X0, X0")
	p("\tVZEROUPPER")
	p("\tMOVSS X0, ret+24(FP)")
	p("\tRET")
	p("")
}

// gelu emits the exact GELU ½·x·erfc(−x/√2) for n % 8 == 0, mirroring
// erfcPosSq: Maclaurin series of erf below 1, e^{−z²}·R(z) above with R's
// coefficients per interval picked by VPERMPS from tab.
func gelu(seriesTerms, degree int) {
	p("// func geluAVX2(x *float32, n int, series, rT *float32)")
	p("TEXT ·geluAVX2(SB), NOSPLIT, $0-32")
	p("\tMOVQ series+16(FP), R10")
	p("\tMOVQ rT+24(FP), R11")
	vecLoopHead(0)
	p("loop:")
	p("\tVMOVUPS (SI), Y3")                    // v
	p("\tVMULPS %s, Y3, Y4", vc("negsqrt1_2")) // z
	// Small path: Y5 = 1 − z·P(z²).
	p("\tVMULPS Y4, Y4, Y6")
	p("\tVBROADCASTSS %d(R10), Y5", 4*(seriesTerms-1))
	for n := seriesTerms - 2; n >= 0; n-- {
		p("\tVBROADCASTSS %d(R10), Y7", 4*n)
		p("\tVFMADD213PS Y7, Y6, Y5")
	}
	p("\tVMULPS Y4, Y5, Y5")
	p("\tVMOVUPS %s, Y7", vc("one"))
	p("\tVSUBPS Y5, Y7, Y5")
	// Large path: a = |z|, interval index, t = a − centre.
	p("\tVANDPS %s, Y4, Y6", vc("absmask")) // a
	p("\tVSUBPS %s, Y6, Y8", vc("one"))
	p("\tVMULPS %s, Y8, Y8", vc("invstep"))
	p("\tVCVTTPS2DQ Y8, Y8")
	p("\tVPXOR Y9, Y9, Y9")
	p("\tVPMAXSD Y9, Y8, Y8")
	p("\tVPMINSD %s, Y8, Y8", vc("seven")) // idx
	p("\tVCVTDQ2PS Y8, Y9")
	p("\tVMOVUPS %s, Y10", vc("center0"))
	p("\tVFMADD231PS %s, Y9, Y10", vc("step")) // centre
	p("\tVSUBPS Y10, Y6, Y9")                  // t
	p("\tVPERMPS %d(R11), Y8, Y10", 32*degree)
	for n := degree - 1; n >= 0; n-- {
		p("\tVPERMPS %d(R11), Y8, Y11", 32*n)
		p("\tVFMADD213PS Y11, Y9, Y10")
	}
	// z² = v²/2 exactly as hi + lo.
	p("\tVMULPS Y3, Y3, Y11") // hi' = v²
	p("\tVMOVUPS Y3, Y12")
	p("\tVFMSUB213PS Y11, Y3, Y12") // lo' = v·v − hi'
	p("\tVMULPS %s, Y11, Y11", vc("half"))
	p("\tVMULPS %s, Y12, Y12", vc("half"))
	p("\tVXORPS %s, Y11, Y0", vc("signmask"))
	exp8()
	p("\tVMULPS Y0, Y10, Y10") // R·e^{−hi}
	p("\tVMOVUPS %s, Y1", vc("one"))
	p("\tVSUBPS Y12, Y1, Y1")
	p("\tVMULPS Y1, Y10, Y10") // ·(1 − lo)
	p("\tVMOVUPS %s, Y1", vc("erfczero"))
	p("\tVCMPPS $1, Y1, Y6, Y1") // a < 6
	p("\tVANDPS Y1, Y10, Y10")
	p("\tVMOVUPS %s, Y1", vc("two"))
	p("\tVSUBPS Y10, Y1, Y1")         // 2 − erfc(a)
	p("\tVBLENDVPS Y4, Y1, Y10, Y10") // z < 0: erfc(z) = 2 − erfc(|z|)
	p("\tVMOVUPS %s, Y1", vc("one"))
	p("\tVCMPPS $1, Y1, Y6, Y1")      // a < 1
	p("\tVBLENDVPS Y1, Y5, Y10, Y10") // small path there
	p("\tVMULPS %s, Y3, Y3", vc("half"))
	p("\tVMULPS Y10, Y3, Y3")
	p("\tVMOVUPS Y3, (SI)")
	p("\tADDQ $32, SI")
	p("\tDECQ CX")
	p("\tJNZ loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// adamw emits one AdamW update over n % 8 == 0 elements (twin adamWGo,
// the same operations in the same order, no FMA):
//
//	g' = g·gs; m = b1·m + c1·g'; v = b2·v + (c2·g')·g'
//	w = w·decay − (lr·m)/(sqrt(v)·rbc2 + eps)
//
// c points at the AdamWCoef fields in declaration order.
func adamw() {
	p("// func adamwAVX2(wp, gp, mp, vp *float32, n int, c *AdamWCoef)")
	p("TEXT ·adamwAVX2(SB), NOSPLIT, $0-48")
	p("\tMOVQ wp+0(FP), SI")
	p("\tMOVQ gp+8(FP), DX")
	p("\tMOVQ mp+16(FP), R8")
	p("\tMOVQ vp+24(FP), R9")
	p("\tMOVQ n+32(FP), CX")
	p("\tMOVQ c+40(FP), AX")
	// Coefficients: Decay, B1, C1, B2, C2, LR, RBC2, Eps, GScale.
	for i, r := range []int{15, 9, 10, 11, 12, 7, 13, 14, 8} {
		p("\tVBROADCASTSS %d(AX), Y%d", 4*i, r)
	}
	p("\tSHRQ $3, CX")
	p("\tJZ done")
	p("loop:")
	p("\tVMOVUPS (DX), Y0")
	p("\tVMULPS Y8, Y0, Y0") // g·gs
	p("\tVMOVUPS (R8), Y1")
	p("\tVMULPS Y9, Y1, Y1")  // b1·m
	p("\tVMULPS Y10, Y0, Y2") // c1·g
	p("\tVADDPS Y2, Y1, Y1")  // m
	p("\tVMOVUPS Y1, (R8)")
	p("\tVMOVUPS (R9), Y3")
	p("\tVMULPS Y11, Y3, Y3") // b2·v
	p("\tVMULPS Y12, Y0, Y4") // c2·g
	p("\tVMULPS Y0, Y4, Y4")  // c2·g·g
	p("\tVADDPS Y4, Y3, Y3")  // v
	p("\tVMOVUPS Y3, (R9)")
	p("\tVSQRTPS Y3, Y3")
	p("\tVMULPS Y13, Y3, Y3") // sqrt(v)·rbc2
	p("\tVADDPS Y14, Y3, Y3") // + eps
	p("\tVMULPS Y7, Y1, Y1")  // lr·m
	p("\tVDIVPS Y3, Y1, Y1")
	p("\tVMOVUPS (SI), Y5")
	p("\tVMULPS Y15, Y5, Y5") // w·decay
	p("\tVSUBPS Y1, Y5, Y5")
	p("\tVMOVUPS Y5, (SI)")
	for _, r := range []string{"SI", "DX", "R8", "R9"} {
		p("\tADDQ $32, %s", r)
	}
	p("\tDECQ CX")
	p("\tJNZ loop")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func main() {
	p("// Code generated by gen_asm.go; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	gemmKernel("sgemmKernelAVX512", avx512MR, "Z", 64)
	gemmKernel("sgemmKernelAVX2", avx2MR, "Y", 32)
	level1()
	dotRows()
	for _, nr := range []int{16, 32} {
		for _, m := range panelGemvM[nr] {
			gemvPanels(nr, m)
		}
	}
	rotateHalf()
	reduction("sumAVX2", "sum")
	reduction("sumSqAVX2", "sumsq")
	reduction("sumSqDevAVX2", "sqdev")
	reduction("maxAVX2", "max")
	normApply("rmsApplyAVX2", false)
	normApply("lnApplyAVX2", true)
	transposes()
	emitConsts()
	sigmoidMul("sigmoidMulAVX2", false)
	sigmoidMul("geluTanhAVX2", true)
	expSub()
	siluGrad()
	gelu(12, 12)
	adamw()
	if err := os.WriteFile("kernels_amd64.s", []byte(out.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
