//go:build amd64 && !purego

package quant

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Implemented in kernels_amd64.s. Both compute, for rows weight rows
// starting at w (stride ldw bytes) with scales at wd (stride ldd floats),
// y[r] = Σ_b wd[r,b]·xd[b]·Σ_j (w[r,b,j]−128)·xq[b,j] over nb blocks.

//go:noescape
func q8RowsVNNI(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, xq *int8, negc *int32, xdx *float32, y *float32)

// q8QuantVNNI quantizes nb blocks of x like quantRowGo (see the .s file).
//
//go:noescape
func q8QuantVNNI(nb int, x *float32, xq *int8, xd *float32, xdx *float32, negc *int32)

// q8FakeQuantVNNI writes the Q8_0-rounded values q·d of nb blocks of x
// to dst (like fakeQuantRowGo).
//
//go:noescape
func q8FakeQuantVNNI(nb int, x *float32, dst *float32)

// q8DequantVNNI writes rows weight rows (stride ldw bytes, scales stride
// ldd floats), nb blocks each, dequantized to dst [rows, nb·32].
//
//go:noescape
func q8DequantVNNI(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, dst *float32)

//go:noescape
func q8RowsAVX2(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, xq *int8, xabs *uint8, xd *float32, y *float32)

//go:noescape
func q8QuantAVX2(nb int, x *float32, xq *int8, xabs *uint8, xd *float32)

func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

func hasVNNI() bool {
	return hasAVX2() && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI
}

// checkRows panics unless the kernel's reads stay inside q's padded
// storage and a's row i, and its writes inside y.
func checkRows(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) {
	if r0 < 0 || r1 > q.out || r0 >= r1 || a.in != q.in || i < 0 || (i+1)*a.nbPad*BlockSize > len(a.xq) || len(y) < r1 {
		panic(fmt.Sprintf("quant: kernel rows [%d,%d) of [%d %d], activation row %d of width %d, y of %d",
			r0, r1, q.out, q.in, i, a.in, len(y)))
	}
}

func rowsVNNI(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) {
	checkRows(q, r0, r1, a, i, y)
	xq, _, xdx, negc := a.row(i)
	q8RowsVNNI(r1-r0, q.nb, &q.qs[r0*q.in], q.in, &q.d[r0*q.nb], q.nb,
		unsafe.SliceData(xq), unsafe.SliceData(negc), unsafe.SliceData(xdx), &y[r0])
}

func rowsAVX2(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) {
	checkRows(q, r0, r1, a, i, y)
	xq, xd, _, _ := a.row(i)
	q8RowsAVX2(r1-r0, q.nb, &q.qs[r0*q.in], q.in, &q.d[r0*q.nb], q.nb,
		unsafe.SliceData(xq), &a.xabs[i*a.nbPad*BlockSize], unsafe.SliceData(xd), &y[r0])
}

// quantRowAVX2 quantizes activation row i: the values, their magnitudes
// and the block scales, which is all rowsAVX2 reads (not xdx or negc).
func quantRowAVX2(x []float32, a *acts, i int) {
	if len(x) < a.in || (i+1)*a.nbPad*BlockSize > len(a.xq) || a.nb == 0 {
		panic(fmt.Sprintf("quant: quantRowAVX2 x of %d into row %d of [%d blocks], %d values", len(x), i, a.nb, len(a.xq)))
	}
	blk := i * a.nbPad
	q8QuantAVX2(a.nb, &x[0], &a.xq[blk*BlockSize], &a.xabs[blk*BlockSize], &a.xd[i*a.nb])
}

func quantRowVNNI(x []float32, a *acts, i int) {
	if len(x) < a.in || (i+1)*a.nbPad*BlockSize > len(a.xq) || a.nb == 0 {
		panic(fmt.Sprintf("quant: quantRowVNNI x of %d into row %d of [%d blocks], %d values", len(x), i, a.nb, len(a.xq)))
	}
	blk := i * a.nbPad
	q8QuantVNNI(a.nb, &x[0], &a.xq[blk*BlockSize], &a.xd[i*a.nb], &a.xdx[blk*lanesPerBlock], &a.negc[blk*lanesPerBlock])
}

func dequantVNNI(q *Q8Matrix, r0, r1 int, dst []float32) {
	if r0 < 0 || r1 > q.out || r0 >= r1 || len(dst) < (r1-r0)*q.in {
		panic(fmt.Sprintf("quant: dequant rows [%d,%d) of [%d %d] into dst of %d", r0, r1, q.out, q.in, len(dst)))
	}
	q8DequantVNNI(r1-r0, q.nb, &q.qs[r0*q.in], q.in, &q.d[r0*q.nb], q.nb, &dst[0])
}

func fakeQuantVNNI(dst, x []float32) {
	if len(x)%BlockSize != 0 || len(dst) < len(x) {
		panic(fmt.Sprintf("quant: fakeQuantVNNI x of %d into dst of %d", len(x), len(dst)))
	}
	if len(x) > 0 {
		q8FakeQuantVNNI(len(x)/BlockSize, &x[0], &dst[0])
	}
}
