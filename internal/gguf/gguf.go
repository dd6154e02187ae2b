package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/fovea-ml/fovea/internal/fsx"
)

// Magic is the little-endian file signature "GGUF".
const Magic = "GGUF"

// Supported format versions. Version 1 used 32-bit lengths and is rejected.
const (
	MinVersion = 2
	MaxVersion = 3
)

// DefaultAlignment is the tensor-data alignment when general.alignment is absent.
const DefaultAlignment = 32

// AlignmentKey names the metadata entry that overrides DefaultAlignment.
const AlignmentKey = "general.alignment"

// MaxDims is the largest tensor rank GGML stores.
const MaxDims = 4

// maxArrayDepth bounds nesting of array values (arrays of arrays).
const maxArrayDepth = 4

// maxKeyLen bounds key strings; keys are short dotted names.
const maxKeyLen = 1 << 16

// Encoded sizes used for "is there room for this" checks.
const (
	headerSize     = 4 + 4 + 8 + 8 // magic, version, tensor count, kv count
	minKVSize      = 8 + 4 + 1     // key length, value type, one byte of value
	minTensorInfo  = 8 + 4 + 4 + 8 // name length, n_dims, type, offset
	stringLenBytes = 8
)

// ValueType is the on-disk type tag of a metadata value.
type ValueType uint32

// GGUF metadata value types.
const (
	TypeUint8 ValueType = iota
	TypeInt8
	TypeUint16
	TypeInt16
	TypeUint32
	TypeInt32
	TypeFloat32
	TypeBool
	TypeString
	TypeArray
	TypeUint64
	TypeInt64
	TypeFloat64
	typeCount
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if t < typeCount {
		return typeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar type, 0 for string/array.
func (t ValueType) fixedSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest possible encoding of one value of type t.
func (t ValueType) minSize() int {
	switch t {
	case TypeString:
		return stringLenBytes
	case TypeArray:
		return 4 + 8
	}
	return t.fixedSize()
}

// Value is one metadata value. Scalars hold uint8..float64, bool or string
// Go values; arrays hold an *Array.
type Value struct {
	Type ValueType
	V    any
}

// Array is a typed metadata array. Values is a Go slice of the element type:
// []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
// []string, []uint64, []int64, []float64, or []*Array for nested arrays.
type Array struct {
	ElemType ValueType
	Values   any
}

// KV is one metadata entry in file order.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor: its name, GGML dims (innermost first, as
// stored), GGML type code and offset relative to the data section.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   uint32
	Offset uint64
}

// File is a parsed GGUF header: metadata and tensor descriptors. Tensor data
// is not read; DataOffset is where it starts in the file.
type File struct {
	Version    uint32
	KVs        []KV
	Tensors    []TensorInfo
	DataOffset int64
	index      map[string]int
}

// ErrNotFound is returned (wrapped) by the typed getters for a missing key.
var ErrNotFound = errors.New("gguf: key not found")

// Open parses the GGUF header of the file at path.
func Open(path string) (*File, error) {
	f, err := fsx.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	g, err := Parse(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	return g, nil
}

// Parse reads a GGUF header from r, which holds size bytes. Every count and
// length is checked against the bytes remaining before anything is allocated.
func Parse(r io.ReaderAt, size int64) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size}
	if size < headerSize {
		return nil, fmt.Errorf("file is %d bytes, shorter than the %d-byte GGUF header", size, headerSize)
	}
	var magic [4]byte
	if err := d.full(magic[:]); err != nil {
		return nil, err
	}
	if string(magic[:]) != Magic {
		return nil, fmt.Errorf("bad magic %q, want %q", magic[:], Magic)
	}
	version, err := d.u32()
	if err != nil {
		return nil, err
	}
	if version < MinVersion || version > MaxVersion {
		return nil, fmt.Errorf("unsupported GGUF version %d (supported %d..%d)", version, MinVersion, MaxVersion)
	}
	nTensors, err := d.u64()
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64()
	if err != nil {
		return nil, err
	}
	if nKV > uint64(d.remaining()/minKVSize) {
		return nil, fmt.Errorf("metadata count %d cannot fit in the %d bytes left", nKV, d.remaining())
	}
	g := &File{Version: version, KVs: make([]KV, 0, nKV), index: make(map[string]int, nKV)}
	for i := uint64(0); i < nKV; i++ {
		key, err := d.str(maxKeyLen)
		if err != nil {
			return nil, fmt.Errorf("metadata %d key: %w", i, err)
		}
		t, err := d.u32()
		if err != nil {
			return nil, fmt.Errorf("metadata %q type: %w", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, err)
		}
		if _, dup := g.index[key]; dup {
			return nil, fmt.Errorf("duplicate metadata key %q", key)
		}
		g.index[key] = len(g.KVs)
		g.KVs = append(g.KVs, KV{Key: key, Value: v})
	}
	if nTensors > uint64(d.remaining()/minTensorInfo) {
		return nil, fmt.Errorf("tensor count %d cannot fit in the %d bytes left", nTensors, d.remaining())
	}
	g.Tensors = make([]TensorInfo, 0, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		ti, err := d.tensorInfo()
		if err != nil {
			return nil, fmt.Errorf("tensor info %d: %w", i, err)
		}
		g.Tensors = append(g.Tensors, ti)
	}
	align := uint64(DefaultAlignment)
	if a, err := g.Uint(AlignmentKey); err == nil {
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%s = %d is not a power of two", AlignmentKey, a)
		}
		align = a
	}
	off := uint64(d.off)
	if rem := off % align; rem != 0 {
		off += align - rem
	}
	if len(g.Tensors) > 0 && off > uint64(size) {
		return nil, fmt.Errorf("tensor data offset %d is past the end of the %d-byte file", off, size)
	}
	g.DataOffset = int64(off)
	return g, nil
}

// Get returns the value stored under key.
func (g *File) Get(key string) (Value, bool) {
	i, ok := g.index[key]
	if !ok {
		return Value{}, false
	}
	return g.KVs[i].Value, true
}

func (g *File) get(key string) (Value, error) {
	v, ok := g.Get(key)
	if !ok {
		return Value{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return v, nil
}

// String returns a string value.
func (g *File) String(key string) (string, error) {
	v, err := g.get(key)
	if err != nil {
		return "", err
	}
	s, ok := v.V.(string)
	if !ok {
		return "", fmt.Errorf("gguf: %q is %s, want string", key, v.Type)
	}
	return s, nil
}

// Bool returns a bool value.
func (g *File) Bool(key string) (bool, error) {
	v, err := g.get(key)
	if err != nil {
		return false, err
	}
	b, ok := v.V.(bool)
	if !ok {
		return false, fmt.Errorf("gguf: %q is %s, want bool", key, v.Type)
	}
	return b, nil
}

// Uint returns any non-negative integer value widened to uint64.
func (g *File) Uint(key string) (uint64, error) {
	v, err := g.get(key)
	if err != nil {
		return 0, err
	}
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	case int8, int16, int32, int64:
		i := toInt64(x)
		if i < 0 {
			return 0, fmt.Errorf("gguf: %q = %d is negative", key, i)
		}
		return uint64(i), nil
	}
	return 0, fmt.Errorf("gguf: %q is %s, want an integer", key, v.Type)
}

// Float returns a float32/float64 value widened to float64.
func (g *File) Float(key string) (float64, error) {
	v, err := g.get(key)
	if err != nil {
		return 0, err
	}
	switch x := v.V.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, fmt.Errorf("gguf: %q is %s, want a float", key, v.Type)
}

func (g *File) array(key string, elem ValueType) (*Array, error) {
	v, err := g.get(key)
	if err != nil {
		return nil, err
	}
	a, ok := v.V.(*Array)
	if !ok {
		return nil, fmt.Errorf("gguf: %q is %s, want array of %s", key, v.Type, elem)
	}
	if a.ElemType != elem {
		return nil, fmt.Errorf("gguf: %q is an array of %s, want %s", key, a.ElemType, elem)
	}
	return a, nil
}

// Strings returns a string array.
func (g *File) Strings(key string) ([]string, error) {
	a, err := g.array(key, TypeString)
	if err != nil {
		return nil, err
	}
	return a.Values.([]string), nil
}

// Float32s returns a float32 array.
func (g *File) Float32s(key string) ([]float32, error) {
	a, err := g.array(key, TypeFloat32)
	if err != nil {
		return nil, err
	}
	return a.Values.([]float32), nil
}

// Ints returns an integer array of any integer element type widened to int64.
func (g *File) Ints(key string) ([]int64, error) {
	v, err := g.get(key)
	if err != nil {
		return nil, err
	}
	a, ok := v.V.(*Array)
	if !ok {
		return nil, fmt.Errorf("gguf: %q is %s, want an integer array", key, v.Type)
	}
	var out []int64
	switch xs := a.Values.(type) {
	case []uint8:
		out = widen(xs)
	case []int8:
		out = widen(xs)
	case []uint16:
		out = widen(xs)
	case []int16:
		out = widen(xs)
	case []uint32:
		out = widen(xs)
	case []int32:
		out = widen(xs)
	case []int64:
		out = append([]int64(nil), xs...)
	case []uint64:
		out = make([]int64, len(xs))
		for i, x := range xs {
			if x > math.MaxInt64 {
				return nil, fmt.Errorf("gguf: %q[%d] = %d overflows int64", key, i, x)
			}
			out[i] = int64(x)
		}
	default:
		return nil, fmt.Errorf("gguf: %q is an array of %s, want integers", key, a.ElemType)
	}
	return out, nil
}

type integer interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32
}

func widen[T integer](xs []T) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}

func toInt64(x any) int64 {
	switch v := x.(type) {
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	}
	return 0
}

// decoder reads little-endian values sequentially and tracks the offset so
// every length can be checked against what is left of the file.
type decoder struct {
	r    *bufio.Reader
	off  int64
	size int64
	buf  [8]byte
}

func (d *decoder) remaining() int64 { return d.size - d.off }

func (d *decoder) full(p []byte) error {
	if int64(len(p)) > d.remaining() {
		return fmt.Errorf("truncated at offset %d: need %d bytes, %d left", d.off, len(p), d.remaining())
	}
	n, err := io.ReadFull(d.r, p)
	d.off += int64(n)
	if err != nil {
		return fmt.Errorf("read at offset %d: %w", d.off, err)
	}
	return nil
}

func (d *decoder) u8() (uint8, error) {
	err := d.full(d.buf[:1])
	return d.buf[0], err
}

func (d *decoder) u16() (uint16, error) {
	err := d.full(d.buf[:2])
	return binary.LittleEndian.Uint16(d.buf[:2]), err
}

func (d *decoder) u32() (uint32, error) {
	err := d.full(d.buf[:4])
	return binary.LittleEndian.Uint32(d.buf[:4]), err
}

func (d *decoder) u64() (uint64, error) {
	err := d.full(d.buf[:8])
	return binary.LittleEndian.Uint64(d.buf[:8]), err
}

func (d *decoder) str(limit uint64) (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(d.remaining()) {
		return "", fmt.Errorf("string length %d exceeds the %d bytes left", n, d.remaining())
	}
	if n > limit {
		return "", fmt.Errorf("string length %d exceeds the limit %d", n, limit)
	}
	p := make([]byte, n)
	if err := d.full(p); err != nil {
		return "", err
	}
	return string(p), nil
}

func (d *decoder) value(t ValueType, depth int) (Value, error) {
	var v any
	var err error
	switch t {
	case TypeUint8:
		v, err = d.u8()
	case TypeInt8:
		var x uint8
		x, err = d.u8()
		v = int8(x)
	case TypeUint16:
		v, err = d.u16()
	case TypeInt16:
		var x uint16
		x, err = d.u16()
		v = int16(x)
	case TypeUint32:
		v, err = d.u32()
	case TypeInt32:
		var x uint32
		x, err = d.u32()
		v = int32(x)
	case TypeFloat32:
		var x uint32
		x, err = d.u32()
		v = math.Float32frombits(x)
	case TypeBool:
		var x uint8
		x, err = d.u8()
		if err == nil && x > 1 {
			err = fmt.Errorf("bool byte %d is neither 0 nor 1", x)
		}
		v = x == 1
	case TypeString:
		v, err = d.str(math.MaxUint64)
	case TypeArray:
		v, err = d.array(depth)
	case TypeUint64:
		v, err = d.u64()
	case TypeInt64:
		var x uint64
		x, err = d.u64()
		v = int64(x)
	case TypeFloat64:
		var x uint64
		x, err = d.u64()
		v = math.Float64frombits(x)
	default:
		return Value{}, fmt.Errorf("unknown value type %d at offset %d", uint32(t), d.off)
	}
	if err != nil {
		return Value{}, err
	}
	return Value{Type: t, V: v}, nil
}

func (d *decoder) array(depth int) (*Array, error) {
	if depth >= maxArrayDepth {
		return nil, fmt.Errorf("arrays nested deeper than %d", maxArrayDepth)
	}
	et, err := d.u32()
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	if elem >= typeCount {
		return nil, fmt.Errorf("unknown array element type %d", et)
	}
	n, err := d.u64()
	if err != nil {
		return nil, err
	}
	if n > uint64(d.remaining()/int64(elem.minSize())) {
		return nil, fmt.Errorf("array of %d %s cannot fit in the %d bytes left", n, elem, d.remaining())
	}
	a := &Array{ElemType: elem}
	switch elem {
	case TypeString:
		xs := make([]string, n)
		for i := range xs {
			if xs[i], err = d.str(math.MaxUint64); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		a.Values = xs
	case TypeArray:
		xs := make([]*Array, n)
		for i := range xs {
			if xs[i], err = d.array(depth + 1); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		a.Values = xs
	default:
		raw := make([]byte, n*uint64(elem.fixedSize()))
		if err := d.full(raw); err != nil {
			return nil, err
		}
		a.Values = decodeFixed(elem, raw, int(n))
	}
	return a, nil
}

func decodeFixed(t ValueType, raw []byte, n int) any {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return raw
	case TypeInt8:
		xs := make([]int8, n)
		for i := range xs {
			xs[i] = int8(raw[i])
		}
		return xs
	case TypeBool:
		xs := make([]bool, n)
		for i := range xs {
			xs[i] = raw[i] != 0
		}
		return xs
	case TypeUint16:
		xs := make([]uint16, n)
		for i := range xs {
			xs[i] = le.Uint16(raw[2*i:])
		}
		return xs
	case TypeInt16:
		xs := make([]int16, n)
		for i := range xs {
			xs[i] = int16(le.Uint16(raw[2*i:]))
		}
		return xs
	case TypeUint32:
		xs := make([]uint32, n)
		for i := range xs {
			xs[i] = le.Uint32(raw[4*i:])
		}
		return xs
	case TypeInt32:
		xs := make([]int32, n)
		for i := range xs {
			xs[i] = int32(le.Uint32(raw[4*i:]))
		}
		return xs
	case TypeFloat32:
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return xs
	case TypeUint64:
		xs := make([]uint64, n)
		for i := range xs {
			xs[i] = le.Uint64(raw[8*i:])
		}
		return xs
	case TypeInt64:
		xs := make([]int64, n)
		for i := range xs {
			xs[i] = int64(le.Uint64(raw[8*i:]))
		}
		return xs
	case TypeFloat64:
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return xs
	}
	panic(fmt.Sprintf("gguf: decodeFixed called with non-scalar type %s", t))
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	name, err := d.str(maxKeyLen)
	if err != nil {
		return TensorInfo{}, fmt.Errorf("name: %w", err)
	}
	nd, err := d.u32()
	if err != nil {
		return TensorInfo{}, err
	}
	if nd > MaxDims {
		return TensorInfo{}, fmt.Errorf("tensor %q has %d dims, max %d", name, nd, MaxDims)
	}
	ti := TensorInfo{Name: name, Dims: make([]uint64, nd)}
	for i := range ti.Dims {
		if ti.Dims[i], err = d.u64(); err != nil {
			return TensorInfo{}, err
		}
	}
	if ti.Type, err = d.u32(); err != nil {
		return TensorInfo{}, err
	}
	if ti.Offset, err = d.u64(); err != nil {
		return TensorInfo{}, err
	}
	return ti, nil
}
