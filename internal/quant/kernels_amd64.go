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

//go:noescape
func q8RowsAVX2(rows, nb int, w *uint8, ldw int, wd *float32, ldd int, xq *int8, xdx *float32, y *float32)

func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

func hasVNNI() bool {
	return hasAVX2() && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
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
	xq, _, xdx, _ := a.row(i)
	q8RowsAVX2(r1-r0, q.nb, &q.qs[r0*q.in], q.in, &q.d[r0*q.nb], q.nb,
		unsafe.SliceData(xq), unsafe.SliceData(xdx), &y[r0])
}
