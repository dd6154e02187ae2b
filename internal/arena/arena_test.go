package arena

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func addr[E any](s []E) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s))) }

func TestArenaCarvesAlignedSlicesInOrder(t *testing.T) {
	sizes := []int{1, 17, 64, 1000, 3}
	total := 0
	for _, n := range sizes {
		total += FloatsSize(n)
	}
	a := New(total)
	require.Equal(t, total, a.Size())
	require.Zero(t, addr(a.buf)%HugePage, "the block starts on a huge page")
	var prev uintptr
	for i, n := range sizes {
		f := a.Floats(n)
		require.Len(t, f, n)
		require.Equal(t, n, cap(f), "no room to grow into the next slice")
		require.Zero(t, addr(f)%Align)
		for _, v := range f {
			require.Zero(t, v)
		}
		if i > 0 {
			require.Greater(t, addr(f), prev, "carved in order")
		}
		prev = addr(f)
		f[n-1] = float32(i + 1) // writable
	}
	require.LessOrEqual(t, a.Used(), total)
	require.Greater(t, a.Used(), total-Align)
}

func TestArenaOverflowFallsBack(t *testing.T) {
	a := New(FloatsSize(4))
	f := a.Floats(4)
	g := a.Floats(10) // past the estimate: its own allocation
	require.Len(t, g, 10)
	require.Zero(t, addr(g)%Align)
	g[9] = 1
	require.Equal(t, float32(0), f[3], "the fallback does not overlap the block")
	b := New(0).Bytes(5)
	require.Len(t, b, 5)
	require.Empty(t, New(0).Floats(0))
}

func TestArenaMisuse(t *testing.T) {
	require.Panics(t, func() { New(-1) })
	require.Panics(t, func() { New(8).Bytes(-1) })
}
