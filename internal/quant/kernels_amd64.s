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
// the VPDPBUSD u8 operand; each lane's accumulator starts at negc, −128
// times the sum of the four activation bytes it meets, so the lanes sum
// to Σ q·xq exactly. Scales: xdx holds xd per lane, VPERMPS spreads the
// row's two scales over the lanes. nb odd is padded by the caller with a
// zero activation block.
//
// One row at a time, a single sequential stream: PREFETCHT0 3 KiB ahead
// (two lines per step) keeps DRAM busy. Measured on the 2-core EPYC
// (Zen 4): 14–18 GB/s of Q8 weights on one thread versus 8–11 GB/s for a
// four-row variant that shares the activation loads over four strided
// row streams (with or without prefetch), so rows are not grouped.
TEXT ·q8RowsVNNI(SB), NOSPLIT, $0-80
	MOVQ nb+8(FP), R9
	ADDQ $1, R9
	SHRQ $1, R9
	SHLQ $6, R9
	MOVQ w+16(FP), SI
	MOVQ ldw+24(FP), R10
	MOVQ wd+32(FP), DI
	MOVQ ldd+40(FP), R11
	SHLQ $2, R11
	MOVQ xq+48(FP), R12
	MOVQ negc+56(FP), R13
	MOVQ xdx+64(FP), R14
	VMOVDQU32 permIdx<>(SB), Z31
	TESTQ R9, R9
	JZ   vnniDone

	MOVQ rows+0(FP), R8
	MOVQ y+72(FP), DX
	TESTQ R8, R8
	JZ   vnniDone

vnniRow:
	VPXORD Z0, Z0, Z0
	VPXORD Z4, Z4, Z4
	XORQ AX, AX
	MOVQ DI, BX
	MOVQ R9, CX
	SHRQ $6, CX
	CMPQ CX, $2
	JLT  vnniTail

vnniPair2:
	PREFETCHT0 3072(SI)(AX*1)
	PREFETCHT0 3136(SI)(AX*1)
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

// func q8QuantVNNI(nb int, x *float32, xq *int8, xd *float32, xdx *float32, negc *int32)
//
// Quantizes nb blocks of 32 floats exactly as quantizeBlock does:
// d = max|x| / 127, id = 1/d (0 when d = 0), r = x·id, q = trunc(r) moved
// one away from zero when |r − trunc(r)| ≥ ½ (round half away from zero,
// exact: r − trunc(r) has no rounding error), clamped to ±127. Writes the
// 32 bytes to xq, d to xd, d eight times to xdx and, per int32 lane, −128
// times the sum of the lane's four bytes to negc (VPDPBUSD of 0x80 bytes).
TEXT ·q8QuantVNNI(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ xq+16(FP), DI
	MOVQ xd+24(FP), R8
	MOVQ xdx+32(FP), R9
	MOVQ negc+40(FP), R10
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z29
	MOVL $0x42fe0000, AX // 127.0
	VPBROADCASTD AX, Z28
	MOVL $0xc2fe0000, AX // -127.0
	VPBROADCASTD AX, Z27
	MOVL $0x3f000000, AX // 0.5
	VPBROADCASTD AX, Z26
	MOVL $0x3f800000, AX // 1.0
	VPBROADCASTD AX, Z25
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Y24
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JZ   quantDone

quantBlock:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VANDPS  Z30, Z0, Z2
	VANDPS  Z30, Z1, Z3
	VMAXPS  Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS  Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VMAXPS  X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS  X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS  X3, X2, X2
	VDIVSS  X28, X2, X4   // d = amax / 127
	VDIVSS  X4, X25, X5   // id = 1 / d
	VMOVSS  X4, (R8)
	VBROADCASTSS X4, Z6
	VMOVUPS Y6, (R9)
	VCMPPS  $4, Z23, Z6, K1 // d != 0
	VBROADCASTSS.Z X5, K1, Z5 // id, or 0 where d = 0
	VMULPS  Z5, Z0, Z0
	VMULPS  Z5, Z1, Z1
	VRNDSCALEPS $0x0b, Z0, Z2   // trunc
	VRNDSCALEPS $0x0b, Z1, Z3
	VSUBPS  Z2, Z0, Z6           // r − trunc(r), exact
	VSUBPS  Z3, Z1, Z7
	VANDPS  Z30, Z6, Z6
	VANDPS  Z30, Z7, Z7
	VCMPPS  $0x0d, Z26, Z6, K2   // |frac| ≥ ½
	VCMPPS  $0x0d, Z26, Z7, K3
	VANDPS  Z29, Z0, Z8
	VORPS   Z25, Z8, Z8          // copysign(1, r)
	VANDPS  Z29, Z1, Z9
	VORPS   Z25, Z9, Z9
	VADDPS  Z8, Z2, K2, Z2
	VADDPS  Z9, Z3, K3, Z3
	VMINPS  Z28, Z2, Z2
	VMINPS  Z28, Z3, Z3
	VMAXPS  Z27, Z2, Z2
	VMAXPS  Z27, Z3, Z3
	VCVTTPS2DQ Z2, Z2
	VCVTTPS2DQ Z3, Z3
	VPMOVSDB Z2, X2
	VPMOVSDB Z3, X3
	VINSERTI128 $1, X3, Y2, Y2
	VMOVDQU Y2, (DI)
	VPXORD  Y10, Y10, Y10
	VPDPBUSD Y2, Y24, Y10
	VPSUBD  Y10, Y23, Y10
	VMOVDQU Y10, (R10)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $32, R9
	ADDQ $32, R10
	DECQ CX
	JNZ  quantBlock

quantDone:
	VZEROUPPER
	RET

// func q8FakeQuantVNNI(nb int, x *float32, dst *float32)
//
// dst = q·d for the Q8_0 blocks (q, d) of x, quantized exactly as in
// q8QuantVNNI: the activations the int8 kernels see, as float32.
TEXT ·q8FakeQuantVNNI(SB), NOSPLIT, $0-24
	MOVQ nb+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ dst+16(FP), DI
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z29
	MOVL $0x42fe0000, AX // 127.0
	VPBROADCASTD AX, Z28
	MOVL $0xc2fe0000, AX // -127.0
	VPBROADCASTD AX, Z27
	MOVL $0x3f000000, AX // 0.5
	VPBROADCASTD AX, Z26
	MOVL $0x3f800000, AX // 1.0
	VPBROADCASTD AX, Z25
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Y24
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JZ   fqDone

fqBlock:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VANDPS  Z30, Z0, Z2
	VANDPS  Z30, Z1, Z3
	VMAXPS  Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS  Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VMAXPS  X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS  X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS  X3, X2, X2
	VDIVSS  X28, X2, X4   // d = amax / 127
	VDIVSS  X4, X25, X5   // id = 1 / d
	VBROADCASTSS X4, Z22
	VCMPPS  $4, Z23, Z22, K1 // d != 0
	VBROADCASTSS.Z X5, K1, Z5 // id, or 0 where d = 0
	VMULPS  Z5, Z0, Z0
	VMULPS  Z5, Z1, Z1
	VRNDSCALEPS $0x0b, Z0, Z2   // trunc
	VRNDSCALEPS $0x0b, Z1, Z3
	VSUBPS  Z2, Z0, Z6           // r − trunc(r), exact
	VSUBPS  Z3, Z1, Z7
	VANDPS  Z30, Z6, Z6
	VANDPS  Z30, Z7, Z7
	VCMPPS  $0x0d, Z26, Z6, K2   // |frac| ≥ ½
	VCMPPS  $0x0d, Z26, Z7, K3
	VANDPS  Z29, Z0, Z8
	VORPS   Z25, Z8, Z8          // copysign(1, r)
	VANDPS  Z29, Z1, Z9
	VORPS   Z25, Z9, Z9
	VADDPS  Z8, Z2, K2, Z2
	VADDPS  Z9, Z3, K3, Z3
	VMINPS  Z28, Z2, Z2
	VMINPS  Z28, Z3, Z3
	VMAXPS  Z27, Z2, Z2
	VMAXPS  Z27, Z3, Z3
	VMULPS  Z22, Z2, Z2
	VMULPS  Z22, Z3, Z3
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  fqBlock

fqDone:
	VZEROUPPER
	RET

// func q8DequantVNNI(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, dst *float32)
//
// dst = (u8 − 128)·d per weight, 16 at a time: VPMOVZXBD, convert, subtract
// 128 (exact), multiply by the block scale (one rounding, as Row).
TEXT ·q8DequantVNNI(SB), NOSPLIT, $0-56
	MOVQ rows+0(FP), R8
	MOVQ nb+8(FP), R9
	MOVQ w+16(FP), SI
	MOVQ ldw+24(FP), R10
	MOVQ wd+32(FP), BX
	MOVQ ldd+40(FP), R11
	SHLQ $2, R11
	MOVQ dst+48(FP), DI
	MOVL $0x43000000, AX // 128.0
	VPBROADCASTD AX, Z30
	TESTQ R8, R8
	JZ   dqDone
	TESTQ R9, R9
	JZ   dqDone

dqRow:
	XORQ AX, AX
	XORQ DX, DX
	MOVQ R9, CX

dqBlock:
	VBROADCASTSS (BX)(DX*4), Z2
	VPMOVZXBD (SI)(AX*1), Z0
	VPMOVZXBD 16(SI)(AX*1), Z1
	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z1, Z1
	VSUBPS Z30, Z0, Z0
	VSUBPS Z30, Z1, Z1
	VMULPS Z2, Z0, Z0
	VMULPS Z2, Z1, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $32, AX
	INCQ DX
	ADDQ $128, DI
	DECQ CX
	JNZ  dqBlock

	ADDQ R10, SI
	ADDQ R11, BX
	DECQ R8
	JNZ  dqRow

dqDone:
	VZEROUPPER
	RET

// BCASTD fills every dword of the ymm register y (whose low half is x)
// with the 32-bit constant c, through AX.
#define BCASTD(c, x, y) \
	MOVL c, AX \
	MOVD AX, x \
	VPBROADCASTD x, y

// permPack puts the dwords of VPACKSSDW+VPACKSSWB's lane-interleaved
// output back in order (VPERMD index): 0, 4, 1, 5, 2, 6, 3, 7.
DATA permPack<>+0(SB)/4, $0
DATA permPack<>+4(SB)/4, $4
DATA permPack<>+8(SB)/4, $1
DATA permPack<>+12(SB)/4, $5
DATA permPack<>+16(SB)/4, $2
DATA permPack<>+20(SB)/4, $6
DATA permPack<>+24(SB)/4, $3
DATA permPack<>+28(SB)/4, $7
GLOBL permPack<>(SB), RODATA|NOPTR, $32

// Q8ROUND turns r = x·id (in v) into round(r) half away from zero,
// clamped to ±127, as int32 lanes: t = trunc(r); t ± 1 where
// |r − trunc(r)| ≥ ½ (exact: r − trunc(r) has no rounding error).
// Y15 |·| mask, Y14 sign mask, Y13 127, Y10 −127, Y12 ½, Y11 1; t, f, g
// scratch; the result replaces v.
#define Q8ROUND(v, t, f, g) \
	VROUNDPS $3, v, t \
	VSUBPS  t, v, f \
	VANDPS  Y15, f, f \
	VCMPPS  $0x0d, Y12, f, f \
	VANDPS  Y14, v, g \
	VORPS   Y11, g, g \
	VANDPS  f, g, g \
	VADDPS  g, t, t \
	VMINPS  Y13, t, t \
	VMAXPS  Y10, t, t \
	VCVTTPS2DQ t, v

// func q8QuantAVX2(nb int, x *float32, xq *int8, xabs *uint8, xd *float32)
//
// Quantizes nb blocks of 32 floats exactly as quantizeBlock does:
// d = max|x| / 127, id = 1/d (0 when d = 0), q = round(x·id) half away
// from zero, clamped to ±127 (Q8ROUND). Writes the 32 bytes to xq, their
// magnitudes to xabs and d to xd.
TEXT ·q8QuantAVX2(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ xq+16(FP), DI
	MOVQ xabs+24(FP), R9
	MOVQ xd+32(FP), R8
	BCASTD($0x7fffffff, X15, Y15)
	BCASTD($0x80000000, X14, Y14)
	BCASTD($0x42fe0000, X13, Y13) // 127.0
	BCASTD($0xc2fe0000, X10, Y10) // -127.0
	BCASTD($0x3f000000, X12, Y12) // 0.5
	BCASTD($0x3f800000, X11, Y11) // 1.0
	VMOVDQU permPack<>(SB), Y9
	TESTQ CX, CX
	JZ   quantAVX2Done

quantAVX2Block:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS  Y15, Y0, Y4
	VANDPS  Y15, Y1, Y5
	VANDPS  Y15, Y2, Y6
	VANDPS  Y15, Y3, Y7
	VMAXPS  Y5, Y4, Y4
	VMAXPS  Y7, Y6, Y6
	VMAXPS  Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS  X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS  X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS  X5, X4, X4
	VDIVSS  X13, X4, X6   // d = amax / 127
	VDIVSS  X6, X11, X7   // id = 1 / d
	VMOVSS  X6, (R8)
	VXORPS  X8, X8, X8
	VCMPSS  $4, X8, X6, X8 // d != 0
	VANDPS  X8, X7, X7     // id, or 0 where d = 0
	VBROADCASTSS X7, Y7
	VMULPS  Y7, Y0, Y0
	VMULPS  Y7, Y1, Y1
	VMULPS  Y7, Y2, Y2
	VMULPS  Y7, Y3, Y3
	Q8ROUND(Y0, Y4, Y5, Y6)
	Q8ROUND(Y1, Y4, Y5, Y6)
	Q8ROUND(Y2, Y4, Y5, Y6)
	Q8ROUND(Y3, Y4, Y5, Y6)
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD  Y0, Y9, Y0
	VMOVDQU Y0, (DI)
	VPABSB  Y0, Y1
	VMOVDQU Y1, (R9)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $32, R9
	ADDQ $4, R8
	DECQ CX
	JNZ  quantAVX2Block

quantAVX2Done:
	VZEROUPPER
	RET

// Q8BLOCK adds one block of one weight row to the accumulator acc: the
// 32 weights at off(SI) (offset binary), the activations at off(R12),
// their magnitudes at off(R13), and the block's combined scale
// d_w·d_x at soff(SP)(AX*1). Y15 holds 0x80 bytes, Y14 int16 ones; w, x,
// t and s are scratch registers.
#define Q8BLOCK(off, soff, acc, w, x, t, s) \
	VMOVDQU off(SI), w \
	VPXOR   Y15, w, w \
	VMOVDQU off(R12), x \
	VPSIGNB x, w, w \
	VMOVDQU off(R13), t \
	VPMADDUBSW w, t, t \
	VPMADDWD Y14, t, t \
	VCVTDQ2PS t, t \
	VBROADCASTSS soff(SP)(AX*1), s \
	VFMADD231PS t, s, acc

// func q8RowsAVX2(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, xq *int8, xabs *uint8, xd *float32, y *float32)
//
// The sign trick: |xq| (xabs, computed once per activation row) is the
// unsigned operand of VPMADDUBSW and q·sign(xq) the signed one, so no pair
// sum can saturate (2·127·127 < 32767); VPMADDWD against ones widens to
// int32. The two scales of a block are multiplied first, 16 blocks at a
// time into the 64-byte frame (wd and xd are padded so that the last
// chunk may read past the row), so each block costs one FMA with a
// broadcast scale and no separate multiply. Two blocks per step into two
// accumulators (Y0, Y6), so consecutive blocks do not wait on each
// other's FMA; an odd block of a chunk runs alone. Rows are ldw bytes and
// ldd scales apart.
TEXT ·q8RowsAVX2(SB), NOSPLIT, $64-80
	MOVQ rows+0(FP), R8
	MOVQ nb+8(FP), R9
	MOVQ w+16(FP), R11
	MOVQ wd+32(FP), DI
	MOVQ y+72(FP), DX
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
	VXORPS Y6, Y6, Y6
	MOVQ R11, SI
	MOVQ xq+48(FP), R12
	MOVQ xabs+56(FP), R13
	MOVQ xd+64(FP), R14
	MOVQ DI, BX
	MOVQ R9, CX

avx2Chunk:
	TESTQ CX, CX
	JZ   avx2Sum
	MOVQ $16, R10
	CMPQ CX, R10
	CMOVQLT CX, R10
	SUBQ R10, CX
	VMOVUPS (BX), Y12
	VMULPS  (R14), Y12, Y12
	VMOVUPS Y12, 0(SP)
	VMOVUPS 32(BX), Y13
	VMULPS  32(R14), Y13, Y13
	VMOVUPS Y13, 32(SP)
	LEAQ (BX)(R10*4), BX
	LEAQ (R14)(R10*4), R14
	XORQ AX, AX
	MOVQ R10, R15
	SHRQ $1, R15
	JZ   avx2Odd

avx2Pair:
	PREFETCHT0 512(SI)
	Q8BLOCK(0, 0, Y0, Y1, Y2, Y4, Y5)
	Q8BLOCK(32, 4, Y6, Y7, Y8, Y10, Y11)
	ADDQ $64, SI
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $8, AX
	DECQ R15
	JNZ  avx2Pair

avx2Odd:
	TESTQ $1, R10
	JZ   avx2Chunk
	Q8BLOCK(0, 0, Y0, Y1, Y2, Y4, Y5)
	ADDQ $32, SI
	ADDQ $32, R12
	ADDQ $32, R13
	JMP  avx2Chunk

avx2Sum:
	VADDPS Y6, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ ldw+24(FP), R11
	MOVQ ldd+40(FP), AX
	LEAQ (DI)(AX*4), DI
	DECQ R8
	JNZ  avx2Row

avx2Done:
	VZEROUPPER
	RET
