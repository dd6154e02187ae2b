//go:build amd64 && !purego

#include "textflag.h"

// permIdx expands two block scales to 8 lanes each: lanes 0–7 take scale
// 0, lanes 8–15 scale 1 (VPERMPS index vector).
DATA permIdx<>+0(SB)/8, $0
DATA permIdx<>+8(SB)/8, $0
DATA permIdx<>+16(SB)/8, $0
DATA permIdx<>+24(SB)/8, $0
DATA permIdx<>+32(SB)/8, $0x0000000100000001
DATA permIdx<>+40(SB)/8, $0x0000000100000001
DATA permIdx<>+48(SB)/8, $0x0000000100000001
DATA permIdx<>+56(SB)/8, $0x0000000100000001
GLOBL permIdx<>(SB), RODATA|NOPTR, $64

// func q8RowsVNNI(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, xq *int8, negc *int32, xdx *float32, y *float32)
//
// Two blocks (64 bytes) per step. Weights are offset binary (u8 = q+128),
// the VPDPBUSD u8 operand; the accumulator starts at −16·Σxq per lane so
// that each block's 8 lanes sum to Σ q·xq exactly. Scales: xdx holds xd
// per lane, VPERMPS spreads the row's two scales over the lanes. nb odd is
// padded by the caller with a zero activation block. PREFETCHT0 16 lines
// ahead doubles the DRAM throughput on long matrices (LM head).
TEXT ·q8RowsVNNI(SB), NOSPLIT, $0-80
	MOVQ rows+0(FP), R8
	MOVQ nb+8(FP), R9
	ADDQ $1, R9
	SHRQ $1, R9
	MOVQ w+16(FP), SI
	MOVQ ldw+24(FP), R10
	MOVQ wd+32(FP), DI
	MOVQ ldd+40(FP), R11
	SHLQ $2, R11
	MOVQ xq+48(FP), R12
	MOVQ negc+56(FP), R13
	MOVQ xdx+64(FP), R14
	MOVQ y+72(FP), DX
	VMOVDQU32 permIdx<>(SB), Z31
	TESTQ R8, R8
	JZ   vnniDone
	TESTQ R9, R9
	JZ   vnniDone

vnniRow:
	VPXORD Z0, Z0, Z0
	VPXORD Z4, Z4, Z4
	XORQ AX, AX
	MOVQ DI, BX
	MOVQ R9, CX
	CMPQ CX, $2
	JLT  vnniTail

vnniPair2:
	PREFETCHT0 1024(SI)(AX*1)
	PREFETCHT0 1088(SI)(AX*1)
	VMOVDQU8  (SI)(AX*1), Z1
	VMOVDQU32 (R13)(AX*1), Z2
	VPDPBUSD  (R12)(AX*1), Z1, Z2
	VMOVDQU8  64(SI)(AX*1), Z5
	VMOVDQU32 64(R13)(AX*1), Z6
	VPDPBUSD  64(R12)(AX*1), Z5, Z6
	VCVTDQ2PS Z2, Z2
	VCVTDQ2PS Z6, Z6
	VMULPS    (R14)(AX*1), Z2, Z2
	VMULPS    64(R14)(AX*1), Z6, Z6
	VPERMPS   (BX), Z31, Z3
	VPERMPS   8(BX), Z31, Z7
	VFMADD231PS Z2, Z3, Z0
	VFMADD231PS Z6, Z7, Z4
	ADDQ $128, AX
	ADDQ $16, BX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  vnniPair2

vnniTail:
	TESTQ CX, CX
	JZ   vnniSum
	VMOVDQU8  (SI)(AX*1), Z1
	VMOVDQU32 (R13)(AX*1), Z2
	VPDPBUSD  (R12)(AX*1), Z1, Z2
	VCVTDQ2PS Z2, Z2
	VMULPS    (R14)(AX*1), Z2, Z2
	VPERMPS   (BX), Z31, Z3
	VFMADD231PS Z2, Z3, Z0

vnniSum:
	VADDPS Z4, Z0, Z0
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
	ADDQ R11, DI
	DECQ R8
	JNZ  vnniRow

vnniDone:
	VZEROUPPER
	RET

// func q8RowsAVX2(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, xq *int8, xdx *float32, y *float32)
//
// One block (32 bytes) per step with the sign trick: |xq| is the unsigned
// operand of VPMADDUBSW and q·sign(xq) the signed one, so no pair sum can
// saturate (2·127·127 < 32767); VPMADDWD against ones widens to int32.
TEXT ·q8RowsAVX2(SB), NOSPLIT, $0-72
	MOVQ rows+0(FP), R8
	MOVQ nb+8(FP), R9
	MOVQ w+16(FP), SI
	MOVQ ldw+24(FP), R10
	MOVQ wd+32(FP), DI
	MOVQ ldd+40(FP), R11
	SHLQ $2, R11
	MOVQ xq+48(FP), R12
	MOVQ xdx+56(FP), R14
	MOVQ y+64(FP), DX
	MOVL $0x80, AX
	MOVD AX, X15
	VPBROADCASTB X15, Y15
	MOVL $1, AX
	MOVD AX, X14
	VPBROADCASTW X14, Y14
	TESTQ R8, R8
	JZ   avx2Done
	TESTQ R9, R9
	JZ   avx2Done

avx2Row:
	VXORPS Y0, Y0, Y0
	XORQ AX, AX
	MOVQ DI, BX
	MOVQ R9, CX

avx2Block:
	PREFETCHT0 1024(SI)(AX*1)
	VMOVDQU (SI)(AX*1), Y1
	VPXOR   Y15, Y1, Y1
	VMOVDQU (R12)(AX*1), Y2
	VPABSB  Y2, Y3
	VPSIGNB Y2, Y1, Y1
	VPMADDUBSW Y1, Y3, Y4
	VPMADDWD Y14, Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMULPS  (R14)(AX*1), Y4, Y4
	VBROADCASTSS (BX), Y5
	VFMADD231PS Y4, Y5, Y0
	ADDQ $32, AX
	ADDQ $4, BX
	DECQ CX
	JNZ  avx2Block

	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ R10, SI
	ADDQ R11, DI
	DECQ R8
	JNZ  avx2Row

avx2Done:
	VZEROUPPER
	RET
