package blas

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// useBLAS installs b in gorgonia's tensor package for the rest of the test
// and restores gonum afterwards.
func useBLAS(t *testing.T, b tensor.BLAS) {
	tensor.Use(b)
	t.Cleanup(func() { tensor.Use(gonum.Implementation{}) })
}

func graphMul(t *testing.T, a, b *tensor.Dense) []float32 {
	t.Helper()
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(a.Shape()...), G.WithValue(a.Clone()), G.WithName("x"))
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(b.Shape()...), G.WithValue(b.Clone()), G.WithName("w"))
	y, err := G.Mul(x, w)
	require.NoError(t, err)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	require.NoError(t, vm.RunAll())
	return append([]float32(nil), y.Value().Data().([]float32)...)
}

func TestGorgoniaBLAS(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const m, k, n = 37, 53, 29
	ad, bd, vd := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, k)
	a := tensor.New(tensor.WithShape(m, k), tensor.WithBacking(ad))
	b := tensor.New(tensor.WithShape(k, n), tensor.WithBacking(bd))
	v := tensor.New(tensor.WithShape(k), tensor.WithBacking(vd))
	want := make([]float32, m*n)
	SgemmRef(false, false, m, n, k, 1, ad, k, bd, n, 0, want, n)
	wantV := make([]float32, m)
	SgemvRef(false, m, k, 1, ad, k, vd, 0, wantV)

	withGonum := graphMul(t, a, b)
	useBLAS(t, GorgoniaBLAS{})
	require.IsType(t, GorgoniaBLAS{}, tensor.WhichBLAS())
	withFovea := graphMul(t, a, b)
	requireClose(t, withFovea, withGonum, 0, gemmTol(k), "gorgonia Mul: Fovea vs gonum")
	requireClose(t, withFovea, want, 0, gemmTol(k), "gorgonia Mul vs SgemmRef")

	mv, err := tensor.MatVecMul(a, v)
	require.NoError(t, err)
	requireClose(t, mv.Data().([]float32), wantV, 0, gemmTol(k), "MatVecMul")

	// A transposed view exercises the transpose flags.
	at := tensor.New(tensor.WithShape(k, m), tensor.WithBacking(randSlice(r, k*m)))
	require.NoError(t, at.T())
	got, err := tensor.MatMul(at, b)
	require.NoError(t, err)
	wantT := make([]float32, m*n)
	SgemmRef(true, false, m, n, k, 1, at.Data().([]float32), m, bd, n, 0, wantT, n)
	requireClose(t, got.Data().([]float32), wantT, 0, gemmTol(k), "MatMul of a transposed view")
}
