package safetensors

import "unsafe"

// hostLittleEndian reports whether the machine stores integers least
// significant byte first, which is safetensors' on-disk order.
func hostLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// float32Bytes views a float32 slice as its bytes (no copy).
func float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}
