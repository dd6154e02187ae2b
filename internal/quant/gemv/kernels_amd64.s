//go:build amd64 && !purego

#include "textflag.h"

// func dotRowsAVX512(rows, n int, w *float32, ldw int, x *float32, y *float32)
//
// y[r] = Σ_j w[r·ldw + j]·x[j] for r < rows, n a positive multiple of 16.
// One row at a time (a single sequential stream for the prefetcher),
// four zmm accumulators over 64 floats per step, then 16 at a time.
TEXT ·dotRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ rows+0(FP), R8
	MOVQ n+8(FP), R9
	MOVQ w+16(FP), SI
	MOVQ ldw+24(FP), R10
	SHLQ $2, R10
	MOVQ x+32(FP), R12
	MOVQ y+40(FP), DX
	SHLQ $2, R9
	TESTQ R8, R8
	JZ   done

row:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ AX, AX
	MOVQ R9, CX
	SUBQ $256, CX
	JLT  tail

loop4:
	VMOVUPS (SI)(AX*1), Z4
	VMOVUPS 64(SI)(AX*1), Z5
	VMOVUPS 128(SI)(AX*1), Z6
	VMOVUPS 192(SI)(AX*1), Z7
	VFMADD231PS (R12)(AX*1), Z4, Z0
	VFMADD231PS 64(R12)(AX*1), Z5, Z1
	VFMADD231PS 128(R12)(AX*1), Z6, Z2
	VFMADD231PS 192(R12)(AX*1), Z7, Z3
	ADDQ $256, AX
	CMPQ AX, CX
	JLE  loop4

tail:
	CMPQ AX, R9
	JGE  sum
	VMOVUPS (SI)(AX*1), Z4
	VFMADD231PS (R12)(AX*1), Z4, Z0
	ADDQ $64, AX
	JMP  tail

sum:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ R10, SI
	DECQ R8
	JNZ  row

done:
	VZEROUPPER
	RET
