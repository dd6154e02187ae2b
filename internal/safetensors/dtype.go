package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is a safetensors element type, spelled as in the file header.
type DType string

// The element types this package understands. Any other dtype string in a
// header is rejected with an error naming it.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	BOOL DType = "BOOL"
)

// Size is the number of bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, BOOL:
		return 1
	}
	return 0
}

// layoutRank orders dtypes in the writer's data section the way HF's
// safetensors does (its dtype enum order, written highest first).
func (d DType) layoutRank() int {
	switch d {
	case BOOL:
		return 0
	case U8:
		return 1
	case I8:
		return 2
	case I16:
		return 3
	case F16:
		return 4
	case BF16:
		return 5
	case I32:
		return 6
	case F32:
		return 7
	case F64:
		return 8
	case I64:
		return 9
	}
	return -1
}

// Valid reports whether d is one of the supported dtypes.
func (d DType) Valid() bool { return d.Size() != 0 }

// IsFloat reports whether d converts with Float32.
func (d DType) IsFloat() bool {
	switch d {
	case F64, F32, F16, BF16:
		return true
	}
	return false
}

// IsInt reports whether d converts with Int64.
func (d DType) IsInt() bool {
	switch d {
	case I64, I32, I16, I8, U8, BOOL:
		return true
	}
	return false
}

// IEEE 754 binary16 layout.
const (
	f16ExpMask    = 0x1f
	f16MantBits   = 10
	f16MantMask   = 0x3ff
	f16ExpBias    = 15
	f32ExpBias    = 127
	f32MantBits   = 23
	f32ExpAllOnes = 0xff
	// f16SubnormalScale is 2^-24, the value of the smallest F16 subnormal.
	f16SubnormalScale = 1.0 / (1 << 24)
	bf16Shift         = 16
)

// F16ToFloat32 converts an IEEE 754 half-precision bit pattern to float32
// exactly (every F16 value, subnormals, infinities and NaN payload top
// bits included, is representable in float32).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>f16MantBits) & f16ExpMask
	mant := uint32(h) & f16MantMask
	switch {
	case exp == 0:
		// Zero or subnormal: value = mant * 2^-24, exact in float32.
		v := float32(mant) * f16SubnormalScale
		if sign != 0 {
			v = -v
		}
		return v
	case exp == f16ExpMask:
		// Inf or NaN: keep the mantissa bits (NaN payload) in the top.
		return math.Float32frombits(sign | f32ExpAllOnes<<f32MantBits | mant<<(f32MantBits-f16MantBits))
	default:
		e := exp - f16ExpBias + f32ExpBias
		return math.Float32frombits(sign | e<<f32MantBits | mant<<(f32MantBits-f16MantBits))
	}
}

// BF16ToFloat32 converts a bfloat16 bit pattern to float32 (exact: bfloat16
// is the top half of a float32).
func BF16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << bf16Shift)
}

// decodeFloat32Ref is the plain reference decoder: element by element via
// encoding/binary. The fast path in decodeFloat32 must agree with it bit
// for bit (tested).
func decodeFloat32Ref(dt DType, raw []byte, dst []float32) error {
	sz := dt.Size()
	if !dt.IsFloat() || len(raw) != len(dst)*sz {
		return fmt.Errorf("safetensors: cannot decode %d bytes of %s into %d float32", len(raw), dt, len(dst))
	}
	for i := range dst {
		b := raw[i*sz : (i+1)*sz]
		switch dt {
		case F32:
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b))
		case F64:
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
		case F16:
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(b))
		case BF16:
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(b))
		}
	}
	return nil
}

// decodeFloat32 converts raw little-endian elements of dt into dst. F32 on
// a little-endian host is a single memmove.
func decodeFloat32(dt DType, raw []byte, dst []float32) error {
	if dt == F32 && hostLittleEndian() && len(raw) == 4*len(dst) {
		copy(float32Bytes(dst), raw)
		return nil
	}
	return decodeFloat32Ref(dt, raw, dst)
}

// decodeInt64 converts raw little-endian integer elements of dt into dst.
func decodeInt64(dt DType, raw []byte, dst []int64) error {
	sz := dt.Size()
	if !dt.IsInt() || len(raw) != len(dst)*sz {
		return fmt.Errorf("safetensors: cannot decode %d bytes of %s into %d int64", len(raw), dt, len(dst))
	}
	for i := range dst {
		b := raw[i*sz : (i+1)*sz]
		switch dt {
		case I64:
			dst[i] = int64(binary.LittleEndian.Uint64(b))
		case I32:
			dst[i] = int64(int32(binary.LittleEndian.Uint32(b)))
		case I16:
			dst[i] = int64(int16(binary.LittleEndian.Uint16(b)))
		case I8:
			dst[i] = int64(int8(b[0]))
		case U8:
			dst[i] = int64(b[0])
		case BOOL:
			if b[0] > 1 {
				return fmt.Errorf("safetensors: BOOL element %d has byte value %d (want 0 or 1)", i, b[0])
			}
			dst[i] = int64(b[0])
		}
	}
	return nil
}
