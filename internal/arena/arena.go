package arena

import (
	"fmt"
	"unsafe"
)

const (
	// Align is the byte alignment of every slice an Arena returns: one
	// cache line, also one zmm register.
	Align = 64
	// HugePage is the transparent huge page size the block is aligned to
	// (x86-64 and arm64 with 4 KiB base pages).
	HugePage = 2 << 20
	// floatBytes is sizeof(float32).
	floatBytes = 4
)

// Arena is a bump allocator over one large block; see the package doc.
type Arena struct {
	buf []byte // the aligned block; buf[:off] is handed out
	off int
}

// New returns an arena of at least size bytes. The block is aligned to a
// huge page and, where the OS supports it, backed by huge pages.
func New(size int) *Arena {
	if size < 0 {
		panic(fmt.Sprintf("arena.New: negative size %d", size))
	}
	if size == 0 {
		return &Arena{}
	}
	raw := make([]byte, size+HugePage)
	off := alignOffset(raw, HugePage)
	buf := raw[off : off+size : off+size]
	adviseHuge(buf)
	return &Arena{buf: buf}
}

// alignOffset is the smallest i with &b[i] a multiple of align.
func alignOffset(b []byte, align int) int {
	rem := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % uintptr(align))
	if rem == 0 {
		return 0
	}
	return align - rem
}

// Size is the capacity of the block in bytes.
func (a *Arena) Size() int { return len(a.buf) }

// Used reports the bytes handed out so far, alignment padding included.
func (a *Arena) Used() int { return a.off }

// Bytes returns n zeroed bytes starting at an Align boundary.
func (a *Arena) Bytes(n int) []byte {
	if n < 0 {
		panic(fmt.Sprintf("arena.Bytes: negative length %d", n))
	}
	start := (a.off + Align - 1) / Align * Align
	if start+n > len(a.buf) {
		// Past the estimate: an aligned buffer of its own.
		raw := make([]byte, n+Align)
		off := alignOffset(raw, Align)
		return raw[off : off+n : off+n]
	}
	a.off = start + n
	return a.buf[start : start+n : start+n]
}

// Floats returns n zeroed float32s starting at an Align boundary.
func (a *Arena) Floats(n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	b := a.Bytes(n * floatBytes)
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// FloatsSize is the number of bytes Floats(n) may take from a block,
// alignment padding included: what a caller sums to size an arena.
func FloatsSize(n int) int { return BytesSize(n * floatBytes) }

// BytesSize is the number of bytes Bytes(n) may take from a block,
// alignment padding included.
func BytesSize(n int) int { return (n + Align - 1) / Align * Align }
