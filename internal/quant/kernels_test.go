package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQuantRowKernelsMatchGo compares every level's activation quantizer
// with quantRowGo bit for bit, on odd and even block counts, zero blocks,
// exact .5 ties and values just below them.
func TestQuantRowKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, in := range []int{32, 64, 96, 576, 1536, 160} {
		q, err := QuantizeQ8_0(randTensor(rng, 0.05, 3, in))
		require.NoError(t, err)
		const m = 3
		x := randTensor(rng, 1, m, in).Data
		clear(x[in : in+BlockSize]) // row 1, block 0: all zero
		// Row 2, block 0: amax 127 so id = 1 and values hit ties exactly.
		for j := 0; j < BlockSize; j++ {
			x[2*in+j] = float32(j) - 15.5
		}
		x[2*in+BlockSize-1] = 127
		x[2*in+1] = math.Nextafter32(0.5, 0) - 14 // just off a tie
		want := q.getActs(m)
		for i := 0; i < m; i++ {
			quantRowGo(x[i*in:(i+1)*in], want, i)
		}
		for _, l := range SupportedLevels() {
			// Stale bytes from an earlier call: the padding block (odd nb)
			// must come back cleared when the pool hands the buffer out again.
			got := q.getActs(m)
			for i := range got.xq {
				got.xq[i], got.xabs[i] = 99, 99
			}
			q.scr.acts.Put(got)
			got = q.getActs(m)
			for i := 0; i < m; i++ {
				kernelFor(l).quant(x[i*in:(i+1)*in], got, i)
			}
			// Every level writes what its rows kernel reads.
			require.Equal(t, want.xq, got.xq, "level %v in %d xq", l, in)
			require.Equal(t, want.xd[:m*want.nb], got.xd[:m*got.nb], "level %v in %d xd", l, in)
			if l != LevelVNNI {
				require.Equal(t, want.xabs, got.xabs, "level %v in %d xabs", l, in)
			}
			if l != LevelAVX2 {
				require.Equal(t, want.xdx, got.xdx, "level %v in %d xdx", l, in)
				require.Equal(t, want.negc, got.negc, "level %v in %d negc", l, in)
			}
		}
	}
}

// TestKernelsFakeQuantAndDequantMatchGo compares each level's activation
// rounding and weight dequantization with the Go twins, bit for bit.
func TestKernelsFakeQuantAndDequantMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, s := range []struct{ out, in int }{{1, 32}, {7, 96}, {65, 576}, {3, 1536}} {
		q, err := QuantizeQ8_0(randTensor(rng, 0.05, s.out, s.in))
		require.NoError(t, err)
		x := randTensor(rng, 1, 3, s.in).Data
		clear(x[:BlockSize])
		wantX := make([]float32, len(x))
		fakeQuantGo(wantX, x)
		wantW := q.Dequantize().Data[s.in : s.out*s.in] // rows [1, out)
		for _, l := range SupportedLevels() {
			k := kernelFor(l)
			gotX := make([]float32, len(x))
			k.fakeQuant(gotX, x)
			require.Equal(t, wantX, gotX, "level %v shape %+v fakeQuant", l, s)
			if s.out > 1 {
				gotW := make([]float32, len(wantW))
				k.dequant(q, 1, s.out, gotW)
				require.Equal(t, wantW, gotW, "level %v shape %+v dequant", l, s)
			}
		}
	}
}

// TestMatMulTSharedScratchConcurrent runs MatMulT from several goroutines
// on matrices that share one scratch (as QuantizeModel builds them), with
// m alternating between the int8 and the panel forms and odd block counts
// (padding reused from a previous call must be cleared again).
func TestMatMulTSharedScratchConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	var ts []NamedTensor
	for i, s := range [][2]int{{37, 96}, {70, 160}, {9, 64}} {
		ts = append(ts, NamedTensor{Name: string(rune('a'+i)) + "_proj.weight", W: randTensor(rng, 0.05, s[0], s[1])})
	}
	qm, err := QuantizeModel(ts)
	require.NoError(t, err)
	const goroutines, rounds = 4, 20
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		go func(g int) {
			defer func() { errs <- nil }()
			r := rand.New(rand.NewPCG(uint64(g), 17))
			for k := 0; k < rounds; k++ {
				q := qm[ts[(g+k)%len(ts)].W].(*Q8Matrix)
				m := []int{1, 3, maxInt8M + 2}[(g+k)%3]
				x := randTensor(r, 1, m, q.in).Data
				want := make([]float32, m*q.out)
				q.MatMulTRef(want, x, m)
				got := make([]float32, m*q.out)
				q.MatMulT(got, x, m)
				for i := range want {
					if d := math.Abs(float64(want[i] - got[i])); d > 1e-4 {
						t.Errorf("goroutine %d round %d m %d y[%d]: %v vs %v", g, k, m, i, got[i], want[i])
						return
					}
				}
			}
		}(g)
	}
	for g := 0; g < goroutines; g++ {
		<-errs
	}
}
