package blas_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/blas"
)

// A linear layer Y = X·Wᵀ: X [T=2, D=3], W [out=2, in=3] row-major.
func ExampleSgemm() {
	x := []float32{1, 2, 3, 4, 5, 6}
	w := []float32{1, 0, 1, 0, 1, 0}
	y := make([]float32, 4)
	blas.Sgemm(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2)
	fmt.Println(y)
	// Output: [4 2 10 5]
}

// The decode path: y = W·x for one token.
func ExampleSgemv() {
	w := []float32{1, 2, 3, 4, 5, 6} // [out=2, in=3]
	x := []float32{1, 1, 1}
	y := make([]float32, 2)
	blas.Sgemv(false, 2, 3, 1, w, 3, x, 0, y)
	fmt.Println(y)
	// Output: [6 15]
}

func ExampleSoftmax() {
	x := []float32{0, 0, float32(0.6931472)} // ln 2
	blas.Softmax(x)
	fmt.Printf("%.4f\n", x)
	// Output: [0.2500 0.2500 0.5000]
}

// Every level this CPU supports can be selected explicitly.
func ExampleForLevel() {
	im, err := blas.ForLevel(blas.LevelGo)
	if err != nil {
		panic(err)
	}
	c := make([]float32, 1)
	im.WithThreads(1).Sgemm(false, false, 1, 1, 2, 1, []float32{1, 2}, 2, []float32{3, 4}, 1, 0, c, 1)
	fmt.Println(c[0])
	// Output: 11
}

// A Linear weight packed once, then applied to a prefill (m = 9 rows,
// blocked sgemm) or a decode step (m = 1, streaming path).
func ExamplePackedMatrix() {
	w := []float32{1, 0, 1, 0, 1, 0} // W [out=2, in=3]
	pm, err := blas.NewPackedMatrix(w, 2, 3)
	if err != nil {
		panic(err)
	}
	x := make([]float32, 9*3)
	for i := range x {
		x[i] = float32(i % 3) // every row is [0 1 2]
	}
	y := make([]float32, 9*2)
	pm.MatMulT(y, x, 9)
	fmt.Println(y[:2], y[16:])
	pm.MatMulT(y[:2], []float32{1, 2, 3}, 1)
	fmt.Println(y[:2])
	// Output:
	// [2 1] [2 1]
	// [4 2]
}

func ExampleGemvT() {
	// W [3, 2] row-major, two activation rows x [2, 2]: y [2, 3] = x·Wᵀ.
	w := []float32{1, 2, 3, 4, 5, 6}
	x := []float32{1, 1, 2, -1}
	y := make([]float32, 6)
	blas.GemvT(y, x, w, 2, 3, 2)
	fmt.Println(y)
	// Output: [3 7 11 0 2 4]
}

// The q and k projections of one token in one pass over both packed
// weights: W [out, in] row-major, op(B) = Wᵀ.
func ExampleMatMulTGroup() {
	x := []float32{1, 2, 3} // [m=1, in=3]
	wq, _ := blas.NewPackedMatrix([]float32{1, 0, 0, 0, 1, 0}, 2, 3)
	wk, _ := blas.NewPackedMatrix([]float32{1, 1, 1}, 1, 3)
	q, k := make([]float32, 2), make([]float32, 1)
	blas.MatMulTGroup([][]float32{q, k}, x, 1, []*blas.PackedMatrix{wq, wk})
	fmt.Println(q, k)
	// Output: [1 2] [6]
}
