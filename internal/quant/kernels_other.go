//go:build !amd64 || purego

package quant

func hasAVX2() bool { return false }
func hasVNNI() bool { return false }

func rowsAVX2(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) { rowsGo(q, r0, r1, a, i, y) }
func rowsVNNI(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32) { rowsGo(q, r0, r1, a, i, y) }

func quantRowVNNI(x []float32, a *acts, i int)           { quantRowGo(x, a, i) }
func quantRowAVX2(x []float32, a *acts, i int)           { quantRowGo(x, a, i) }
func dequantVNNI(q *Q8Matrix, r0, r1 int, dst []float32) { dequantGo(q, r0, r1, dst) }
func fakeQuantVNNI(dst, x []float32)                     { fakeQuantGo(dst, x) }
