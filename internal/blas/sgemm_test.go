package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// gemmTol is the tolerance for a k-term float32 dot product of values in
// [-1, 1]: summation order differs between the kernels and the reference.
func gemmTol(k int) float64 { return 1e-6 * float64(k+8) }

func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	require.Len(t, got, len(want))
	var d float64
	for i := range got {
		if math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			t.Fatalf("element %d: got %v want %v", i, got[i], want[i])
		}
		if math.IsNaN(float64(got[i])) {
			continue
		}
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
	}
	return d
}

func allImpls(t testing.TB) []*Impl {
	var out []*Impl
	for _, l := range SupportedLevels() {
		im, err := ForLevel(l)
		require.NoError(t, err)
		out = append(out, im)
	}
	return out
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra stride beyond the row length
}

func gemmCases() []gemmCase {
	var cs []gemmCase
	sizes := [][3]int{
		{1, 1, 1}, {1, 37, 19}, {37, 1, 19}, {5, 7, 1}, {13, 33, 17}, {12, 32, 8},
		{25, 65, 300}, {97, 101, 263}, {6, 16, 3}, {145, 70, 513}, {200, 300, 40},
		{3, 1000, 5}, {1000, 3, 5}, {31, 47, 1},
		{5, 1000, 600}, {25, 300, 400}, // big enough for two goroutines, few rows: columns split
	}
	scalars := [][2]float32{{1, 0}, {1, 1}, {0.5, -1.5}, {-2, 0}}
	for i, s := range sizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				sc := scalars[(i+len(cs))%len(scalars)]
				cs = append(cs, gemmCase{ta, tb, s[0], s[1], s[2], sc[0], sc[1], (i * 3) % 5})
			}
		}
	}
	return cs
}

func runGemmCase(t *testing.T, im *Impl, c gemmCase, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	ar, ac := c.m, c.k
	if c.transA {
		ar, ac = c.k, c.m
	}
	br, bc := c.k, c.n
	if c.transB {
		br, bc = c.n, c.k
	}
	lda, ldb, ldc := ac+c.pad, bc+c.pad, c.n+c.pad
	a := randSlice(r, ar*lda)
	b := randSlice(r, br*ldb)
	cRef := randSlice(r, c.m*ldc)
	if c.beta == 0 {
		for i := range cRef {
			cRef[i] = float32(math.NaN()) // beta == 0 must not read C
		}
	}
	cGot := append([]float32(nil), cRef...)
	SgemmRef(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, cRef, ldc)
	im.Sgemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, cGot, ldc)
	// Padding between rows must be untouched.
	for i := 0; i < c.m; i++ {
		for j := c.n; j < ldc && i*ldc+j < len(cGot); j++ {
			require.Equal(t, math.Float32bits(cRef[i*ldc+j]), math.Float32bits(cGot[i*ldc+j]), "padding C[%d,%d] touched", i, j)
		}
	}
	require.LessOrEqual(t, maxAbsDiff(t, cGot, cRef), gemmTol(c.k)*float64(max(1, abs32(c.alpha))))
}

func abs32(x float32) float64 { return math.Abs(float64(x)) }

func TestSgemmMatchesReference(t *testing.T) {
	for _, im := range allImpls(t) {
		for _, threads := range []int{1, 2} {
			im := im.WithThreads(threads)
			for i, c := range gemmCases() {
				name := fmt.Sprintf("%v/t%d/%dx%dx%d/tA=%v,tB=%v/a=%g,b=%g,pad=%d", im.Level(), threads, c.m, c.n, c.k, c.transA, c.transB, c.alpha, c.beta, c.pad)
				t.Run(name, func(t *testing.T) { runGemmCase(t, im, c, uint64(i)) })
			}
		}
	}
}

// TestSgemmBlockEdges crosses every cache-block boundary (mc, kc, nc) of
// every level with sizes one above a block.
func TestSgemmBlockEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	for _, im := range allImpls(t) {
		g := im.gemm
		c := gemmCase{false, true, g.mc + g.mr + 1, g.nr*3 + 5, g.kc + 3, 1, 0.25, 1}
		t.Run(im.Level().String(), func(t *testing.T) { runGemmCase(t, im.WithThreads(2), c, 99) })
		c2 := gemmCase{true, false, 2*g.mr + 1, g.nc + 3, 9, -1, 0, 0}
		t.Run(im.Level().String()+"/nc", func(t *testing.T) { runGemmCase(t, im.WithThreads(1), c2, 98) })
	}
}

func TestSgemmDegenerate(t *testing.T) {
	for _, im := range allImpls(t) {
		c := []float32{1, 2, 3, 4}
		im.Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 3, c, 2) // k == 0: C = beta·C
		require.Equal(t, []float32{3, 6, 9, 12}, c)
		im.Sgemm(false, false, 2, 2, 1, 0, []float32{1, 1}, 1, []float32{1, 1}, 2, 0, c, 2) // alpha == 0, beta == 0
		require.Equal(t, []float32{0, 0, 0, 0}, c)
		im.Sgemm(false, false, 0, 2, 3, 1, nil, 3, make([]float32, 6), 2, 0, nil, 2) // m == 0: no-op
	}
}

func TestSgemmPanicsOnShortSlice(t *testing.T) {
	require.PanicsWithValue(t, "blas: B is 3×4 with stride 4: needs 12 elements, has 11", func() {
		Sgemm(false, false, 2, 4, 3, 1, make([]float32, 6), 3, make([]float32, 11), 4, 0, make([]float32, 8), 4)
	})
}

// TestMicroKernels compares each register-tile kernel with microRef on odd
// depths, including depths that are not a multiple of the unroll.
func TestMicroKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, im := range allImpls(t) {
		g := im.gemm
		for _, k := range []int{1, 2, 3, 4, 5, 7, 17, 255, 256, 257} {
			ldc := g.nr + 3
			a := randSlice(r, k*g.mr)
			b := randSlice(r, k*g.nr)
			want := randSlice(r, g.mr*ldc)
			got := append([]float32(nil), want...)
			for _, add := range []bool{true, false} {
				microRef(g.mr, g.nr, k, a, b, want, ldc, add)
				g.micro(k, a, b, got, ldc, add)
				require.LessOrEqual(t, maxAbsDiff(t, got, want), gemmTol(k), "%v k=%d add=%v", im.Level(), k, add)
			}
		}
	}
}

func TestLevels(t *testing.T) {
	require.Equal(t, LevelGo, SupportedLevels()[0])
	for _, l := range []Level{LevelGo, LevelAVX2, LevelAVX512} {
		p, err := ParseLevel(l.String())
		require.NoError(t, err)
		require.Equal(t, l, p)
	}
	_, err := ParseLevel("sse9")
	require.ErrorContains(t, err, "sse9")
	_, err = ForLevel(Level(42))
	require.Error(t, err)
	require.LessOrEqual(t, Default().Level(), DetectedLevel())
	require.Equal(t, LevelAVX2, cappedLevel(LevelAVX512, "AVX2"))
	require.Equal(t, LevelGo, cappedLevel(LevelAVX512, "go"))
	require.Equal(t, LevelAVX2, cappedLevel(LevelAVX2, "avx512"), "cannot raise the level")
	require.Equal(t, LevelAVX512, cappedLevel(LevelAVX512, "bogus"))
	require.Equal(t, LevelAVX512, cappedLevel(LevelAVX512, ""))
}
