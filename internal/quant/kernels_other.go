//go:build !amd64 || purego

package quant

func hasAVX2() bool { return false }
func hasVNNI() bool { return false }

func rowsAVX2(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) { rowsGo(q, r0, r1, a, i, y) }
func rowsVNNI(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) { rowsGo(q, r0, r1, a, i, y) }
