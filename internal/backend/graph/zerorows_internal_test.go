package graph

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// TestForRowRuns: runs of all-zero and non-zero rows, in order, covering
// every row once.
func TestForRowRuns(t *testing.T) {
	a := []float32{
		0, 0, // zero
		0, 1, // non-zero
		2, 0, // non-zero
		0, 0, // zero
		0, 0, // zero
		float32(math.NaN()), 0, // non-zero
	}
	type run struct {
		r0, r1 int
		nz     bool
	}
	var got []run
	forRowRuns(a, 6, 2, func(r0, r1 int, nz bool) { got = append(got, run{r0, r1, nz}) })
	require.Equal(t, []run{{0, 1, false}, {1, 3, true}, {3, 5, false}, {5, 6, true}}, got)
	got = nil
	forRowRuns([]float32{1, 1, 1}, 3, 1, func(r0, r1 int, nz bool) { got = append(got, run{r0, r1, nz}) })
	require.Equal(t, []run{{0, 3, true}}, got)
	forRowRuns([]float32{}, 0, 4, func(int, int, bool) { t.Fatal("no rows, no runs") })
}

// TestLinearInputGradIgnoredRows: the input gradient of a Linear feeding
// a cross-entropy whose ignored rows (at both ends and in the middle)
// give zero rows of dlogits, trainable and frozen weight, float32 and
// float64, against the plain formula dx = (softmax(x·wᵀ) − onehot)/n · w.
func TestLinearInputGradIgnoredRows(t *testing.T) {
	const rows, in, out, ignore = 7, 5, 6, -100
	targets := []int{ignore, 2, 0, ignore, ignore, 5, ignore}
	rng := rand.New(rand.NewPCG(5, 6))
	x, w := ft.New(rows, in), ft.New(out, in)
	for _, s := range [][]float32{x.Data, w.Data} {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	want := make([]float64, rows*in)
	for r, tg := range targets {
		if tg == ignore {
			continue
		}
		logit := make([]float64, out)
		mx := math.Inf(-1)
		for j := range logit {
			for i := 0; i < in; i++ {
				logit[j] += float64(x.Data[r*in+i]) * float64(w.Data[j*in+i])
			}
			mx = math.Max(mx, logit[j])
		}
		var z float64
		for j := range logit {
			logit[j] = math.Exp(logit[j] - mx)
			z += logit[j]
		}
		for j := range logit {
			d := logit[j] / z
			if j == tg {
				d--
			}
			d /= 3 // three rows count
			for i := 0; i < in; i++ {
				want[r*in+i] += d * float64(w.Data[j*in+i])
			}
		}
	}
	for _, f64 := range []bool{false, true} {
		for _, frozenW := range []bool{false, true} {
			be := New(Options{Float64: f64, Trainable: func(t *ft.Tensor) bool { return t == x || !frozenW }})
			loss := be.CrossEntropy(be.Linear(be.Weight(x), be.Weight(w), nil), targets, ignore)
			require.NoError(t, be.Backward(loss))
			mach, err := be.Compile()
			require.NoError(t, err)
			for run := 0; run < 2; run++ { // the second run reuses every buffer
				require.NoError(t, mach.Run(context.Background()))
				g, err := be.Params()[0].Grad()
				require.NoError(t, err)
				require.Equal(t, x, be.Params()[0].Tensor)
				for i, v := range want {
					if v == 0 {
						require.Zero(t, g.Data[i], "dx[%d]", i)
						continue
					}
					require.InDelta(t, v, g.Data[i], 1e-6, "dx[%d] f64=%v frozen=%v", i, f64, frozenW)
				}
			}
			require.NoError(t, mach.Close())
		}
	}
}
