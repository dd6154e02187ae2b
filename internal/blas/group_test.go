package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGemvPanelsMatchesTwin runs every level's panel gemv against
// gemvPanelsGo on odd depths (not multiples of the unroll), every row
// count up to SmallM (several passes) and several panels, with strides.
func TestGemvPanelsMatchesTwin(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, im := range allImpls(t) {
		nr := im.gemm.nr
		for m := 1; m <= SmallM; m++ {
			for _, k := range []int{1, 2, 3, 5, 17, 63, 191} {
				for _, npan := range []int{1, 3} {
					ldx, ldy := k+m%3, npan*nr+m%2
					x := randSlice(r, m*ldx)
					pan := randSlice(r, npan*k*nr)
					want := make([]float32, m*ldy)
					got := make([]float32, m*ldy)
					for i := range got {
						want[i], got[i] = float32(i), float32(i) // the stride gap must survive
					}
					gemvPanelsGo(nr, k, x, ldx, m, pan, npan, want, ldy)
					im.gemvPanels(k, x, ldx, m, pan, npan, got, ldy)
					require.LessOrEqual(t, maxAbsDiff(t, got, want), gemmTol(k), "%v m=%d k=%d npan=%d", im.Level(), m, k, npan)
				}
			}
		}
	}
}

// TestGemvPanelsRef checks the Go twin itself against the plain product
// of the panels' columns.
func TestGemvPanelsRef(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	const nr, k, m, npan = 4, 7, 3, 2
	x, pan := randSlice(r, m*k), randSlice(r, npan*k*nr)
	y := make([]float32, m*npan*nr)
	gemvPanelsGo(nr, k, x, k, m, pan, npan, y, npan*nr)
	for i := 0; i < m; i++ {
		for j := 0; j < npan*nr; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(x[i*k+p]) * float64(pan[(j/nr)*k*nr+p*nr+j%nr])
			}
			require.InDelta(t, s, y[i*npan*nr+j], 1e-5)
		}
	}
}

// TestSgemmPackedGroupMatchesReference multiplies one A by groups of
// packed matrices (ragged widths, several products, widths crossing the
// nc column block) on every level, 1 and 2 goroutines, for decode-sized
// and blocked row counts, against SgemmRef per product.
func TestSgemmPackedGroupMatchesReference(t *testing.T) {
	groups := [][]int{{1}, {37}, {576, 192, 192}, {5, 17, 33, 1}, {4100}, {3000, 1300, 7}}
	for _, im := range allImpls(t) {
		for _, threads := range []int{1, 2} {
			im := im.WithThreads(threads)
			for gi, ns := range groups {
				for _, m := range []int{1, 2, 5, SmallM, SmallM + 1, 50} {
					k := []int{3, 40, 129}[(gi+m)%3]
					name := fmt.Sprintf("%v/t%d/n=%v/m=%d/k=%d", im.Level(), threads, ns, m, k)
					t.Run(name, func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(gi), uint64(m)))
						lda := k + 1
						a := randSlice(r, m*lda)
						prods := make([]PackedProduct, len(ns))
						ws := make([][]float32, len(ns))
						for g, n := range ns {
							ws[g] = randSlice(r, n*k) // W [n, k]: op(B) = Wᵀ
							c := make([]float32, m*(n+2))
							for i := range c {
								c[i] = float32(math.NaN()) // overwritten, never read
							}
							prods[g] = PackedProduct{B: im.PackB(true, k, n, ws[g], k), C: c, Ldc: n + 2}
						}
						im.SgemmPackedGroup(m, a, lda, prods)
						for g, n := range ns {
							want := make([]float32, m*(n+2))
							SgemmRef(false, true, m, n, k, 1, a, lda, ws[g], k, 0, want, n+2)
							got := prods[g].C
							for i := 0; i < m; i++ {
								for j := n; j < n+2; j++ { // the stride gap is not written
									require.True(t, math.IsNaN(float64(got[i*(n+2)+j])), "product %d row %d col %d written", g, i, j)
									got[i*(n+2)+j] = 0
								}
							}
							require.LessOrEqual(t, maxAbsDiff(t, got, want), gemmTol(k), "product %d", g)
						}
					})
				}
			}
		}
	}
}

func TestSgemmPackedGroupMisuse(t *testing.T) {
	im := allImpls(t)[0]
	pb3 := im.PackB(true, 3, 2, make([]float32, 6), 3)
	pb4 := im.PackB(true, 4, 2, make([]float32, 8), 4)
	c := make([]float32, 2)
	require.PanicsWithValue(t, "blas.SgemmPackedGroup: product 1 has depth 4, product 0 has 3", func() {
		im.SgemmPackedGroup(1, make([]float32, 3), 3, []PackedProduct{{pb3, c, 2}, {pb4, c, 2}})
	})
	require.PanicsWithValue(t, "blas.SgemmPackedGroup: product 0 has a nil PackedB", func() {
		im.SgemmPackedGroup(1, make([]float32, 3), 3, []PackedProduct{{nil, c, 2}})
	})
	require.PanicsWithValue(t, "blas: A is 1×3 with stride 3: needs 3 elements, has 2", func() {
		im.SgemmPackedGroup(1, make([]float32, 2), 3, []PackedProduct{{pb3, c, 2}})
	})
	// k == 0 zeroes every C.
	pb0 := im.PackB(true, 0, 2, nil, 1)
	c0 := []float32{1, 2}
	im.SgemmPackedGroup(1, nil, 1, []PackedProduct{{pb0, c0, 2}})
	require.Equal(t, []float32{0, 0}, c0)
}

func TestTakeColumns(t *testing.T) {
	const nr = 16
	p1, p2 := &PackedProduct{}, &PackedProduct{}
	segs := []segment{{p1, 0, 40}, {p2, 0, 100}} // 3 + 7 panels (both ragged)
	var got [][3]int
	for len(segs) > 0 {
		for _, s := range takeColumns(&segs, 4*nr, nr) {
			id := 1
			if s.pr == p2 {
				id = 2
			}
			got = append(got, [3]int{id, s.jlo, s.jhi})
		}
		got = append(got, [3]int{})
	}
	require.Equal(t, [][3]int{
		{1, 0, 40}, {2, 0, 16}, {},
		{2, 16, 80}, {},
		{2, 80, 100}, {},
	}, got)
}

func TestMatMulTGroup(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	const in, m = 24, 3
	w1, w2 := randSlice(r, 5*in), randSlice(r, 40*in)
	p1, err := NewPackedMatrix(w1, 5, in)
	require.NoError(t, err)
	p2, err := NewPackedMatrix(w2, 40, in)
	require.NoError(t, err)
	x := randSlice(r, m*in)
	y1, y2 := make([]float32, m*5), make([]float32, m*40)
	MatMulTGroup([][]float32{y1, y2}, x, m, []*PackedMatrix{p1, p2})
	want1, want2 := make([]float32, m*5), make([]float32, m*40)
	p1.MatMulT(want1, x, m)
	p2.MatMulT(want2, x, m)
	require.Equal(t, want1, y1) // the same kernels, the same sums
	require.Equal(t, want2, y2)
	p3, err := NewPackedMatrix(make([]float32, 2*7), 2, 7)
	require.NoError(t, err)
	require.PanicsWithValue(t, "blas.MatMulTGroup: matrix 1 is [2 7], matrix 0 is [5 24]", func() {
		MatMulTGroup([][]float32{y1, y2}, x, m, []*PackedMatrix{p1, p3})
	})
}

func TestPackBInto(t *testing.T) {
	for _, im := range allImpls(t) {
		r := rand.New(rand.NewPCG(27, 28))
		const k, n = 9, 21
		w := randSlice(r, n*k)
		buf := make([]float32, im.PackedLen(k, n)+3)
		pb := im.PackBInto(buf, true, k, n, w, k)
		require.Equal(t, im.PackB(true, k, n, w, k).data, pb.data)
		require.Same(t, &buf[0], &pb.data[0], "the panels live in the caller's buffer")
		require.Panics(t, func() { im.PackBInto(buf[:5], true, k, n, w, k) })
		_, err := im.NewPackedMatrixInto(buf[:5], w, n, k)
		require.ErrorContains(t, err, "needs a buffer of")
	}
}
