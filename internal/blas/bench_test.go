package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// refMaxFlops bounds the problems the triple-loop reference is timed on.
const refMaxFlops = 1 << 26

type benchShape struct {
	name    string
	m, n, k int
	transB  bool
}

var benchShapes = []benchShape{
	{"256x256x256", 256, 256, 256, false},
	{"1024x1024x1024", 1024, 1024, 1024, false},
	// Model shapes (Y = X·Wᵀ): ViT-B/16 QKV and SmolLM2 prefill MLP.
	{"vit_qkv_197x2304x768", 197, 2304, 768, true},
	{"prefill_mlp_256x1536x576", 256, 1536, 576, true},
	// Decode: one token x[1, 576] times W[1536, 576]ᵀ.
	{"decode_1x1536x576", 1, 1536, 576, true},
}

func BenchmarkSgemm(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range benchShapes {
		a := randSlice(r, s.m*s.k)
		bm := randSlice(r, s.k*s.n)
		c := make([]float32, s.m*s.n)
		ldb := s.n
		if s.transB {
			ldb = s.k
		}
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		run := func(name string, f func()) {
			b.Run(s.name+"/"+name, func(b *testing.B) {
				for b.Loop() {
					f()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		for _, im := range allImpls(b) {
			run(im.Level().String(), func() { im.Sgemm(false, s.transB, s.m, s.n, s.k, 1, a, s.k, bm, ldb, 0, c, s.n) })
		}
		tB := gblas.NoTrans
		if s.transB {
			tB = gblas.Trans
		}
		run("gonum", func() { gonum.Implementation{}.Sgemm(gblas.NoTrans, tB, s.m, s.n, s.k, 1, a, s.k, bm, ldb, 0, c, s.n) })
		if flops <= refMaxFlops {
			run("ref", func() { SgemmRef(false, s.transB, s.m, s.n, s.k, 1, a, s.k, bm, ldb, 0, c, s.n) })
		}
	}
}

func BenchmarkSgemmThreads(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 1024
	a, bm, c := randSlice(r, n*n), randSlice(r, n*n), make([]float32, n*n)
	for _, threads := range []int{1, 2} {
		im := Default().WithThreads(threads)
		b.Run(fmt.Sprintf("%v/t%d", im.Level(), threads), func(b *testing.B) {
			for b.Loop() {
				im.Sgemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n)
			}
			b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMicro times one register-tile kernel on L1-resident panels: the
// ceiling the blocked driver can approach.
func BenchmarkMicro(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, im := range allImpls(b) {
		g := im.gemm
		const k = 128
		a, bp, c := randSlice(r, k*g.mr), randSlice(r, k*g.nr), make([]float32, g.mr*g.nr)
		b.Run(im.Level().String(), func(b *testing.B) {
			for b.Loop() {
				g.micro(k, a, bp, c, g.nr, true)
			}
			b.ReportMetric(2*float64(k*g.mr*g.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
