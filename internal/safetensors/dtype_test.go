package safetensors

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestF16KnownBitPatterns(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x3C00, 1.0},
		{0xC000, -2.0},
		{0x7BFF, 65504},
		{0x0001, 5.9604644775390625e-08}, // 2^-24, smallest subnormal
		{0x03FF, 6.097555160522461e-05},  // largest subnormal 1023 * 2^-24
		{0x0400, 6.103515625e-05},        // smallest normal 2^-14
		{0x3555, 0.333251953125},
		{0x0000, 0},
		{0x7C00, float32(math.Inf(1))},
		{0xFC00, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		require.Equal(t, math.Float32bits(c.want), math.Float32bits(F16ToFloat32(c.bits)), "bits %04x", c.bits)
	}
	require.Equal(t, uint32(0x80000000), math.Float32bits(F16ToFloat32(0x8000)), "negative zero")
	require.True(t, math.IsNaN(float64(F16ToFloat32(0x7E00))))
	require.True(t, math.IsNaN(float64(F16ToFloat32(0xFC01))))
}

// TestF16Exhaustive compares all 65536 half patterns with the IEEE formula
// (-1)^s * 2^(e-15) * (1 + m/1024), or m * 2^-24 for subnormals, in float64.
func TestF16Exhaustive(t *testing.T) {
	for h := 0; h <= math.MaxUint16; h++ {
		s := h >> 15
		e := (h >> 10) & 0x1f
		m := h & 0x3ff
		got := F16ToFloat32(uint16(h))
		var want float64
		switch {
		case e == 0x1f && m != 0:
			require.True(t, math.IsNaN(float64(got)), "%04x", h)
			continue
		case e == 0x1f:
			want = math.Inf(1)
		case e == 0:
			want = math.Ldexp(float64(m), -24)
		default:
			want = math.Ldexp(1+float64(m)/1024, e-15)
		}
		if s == 1 {
			want = -want
		}
		if math.Float32bits(float32(want)) != math.Float32bits(got) {
			t.Fatalf("%04x: got %v want %v", h, got, want)
		}
	}
}

func TestBF16KnownBitPatterns(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x3F80, 1.0},
		{0xC000, -2.0},
		{0x477F, 65280},
		{0x0001, math.Float32frombits(0x00010000)}, // smallest bf16 subnormal, 2^-133
		{0x7F80, float32(math.Inf(1))},
		{0xFF80, float32(math.Inf(-1))},
		{0x3EAB, 0.333984375},
	}
	for _, c := range cases {
		require.Equal(t, math.Float32bits(c.want), math.Float32bits(BF16ToFloat32(c.bits)), "bits %04x", c.bits)
	}
	require.Equal(t, float32(math.Ldexp(1, -133)), BF16ToFloat32(0x0001))
	require.True(t, math.IsNaN(float64(BF16ToFloat32(0x7FC0))))
}

// TestDecodeFastMatchesReference: the memmove fast path for F32 must agree
// bit for bit with the element-wise reference decoder.
func TestDecodeFastMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	raw := make([]byte, 4*1001)
	rng.Read(raw)
	fast := make([]float32, 1001)
	ref := make([]float32, 1001)
	require.NoError(t, decodeFloat32(F32, raw, fast))
	require.NoError(t, decodeFloat32Ref(F32, raw, ref))
	for i := range fast {
		require.Equal(t, math.Float32bits(ref[i]), math.Float32bits(fast[i]), "element %d", i)
		require.Equal(t, binary.LittleEndian.Uint32(raw[4*i:]), math.Float32bits(fast[i]), "element %d", i)
	}
	require.Error(t, decodeFloat32(F32, raw[:7], fast))
	require.Error(t, decodeFloat32(I64, raw[:8], fast[:1]))
}

func TestDTypeSizes(t *testing.T) {
	want := map[DType]int{F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, "F8_E4M3": 0, "": 0}
	for d, n := range want {
		require.Equal(t, n, d.Size(), string(d))
	}
}
