package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// Entry is one tensor to write: its raw little-endian bytes, which must be
// exactly numel(Shape) * DType.Size() long.
type Entry struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Float32Entry encodes a float32 tensor as an F32 entry (the bytes are a
// copy). A tensor whose Data does not match its Shape is reported by
// WriteEntries.
func Float32Entry(name string, t *tensor.Tensor) Entry {
	data := make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	return Entry{Name: name, DType: F32, Shape: append([]int(nil), t.Shape...), Data: data}
}

// Int64Entry encodes int64 values as an I64 entry. With no shape, the
// entry is one-dimensional [len(vals)].
func Int64Entry(name string, vals []int64, shape ...int) Entry {
	if len(shape) == 0 {
		shape = []int{len(vals)}
	}
	data := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(data[8*i:], uint64(v))
	}
	return Entry{Name: name, DType: I64, Shape: append([]int(nil), shape...), Data: data}
}

// Write saves float32 tensors as F32 in one safetensors file (see
// WriteEntries for the guarantees).
func Write(path string, tensors map[string]*tensor.Tensor, metadata map[string]string) error {
	entries := make([]Entry, 0, len(tensors))
	for n, t := range tensors {
		if t == nil {
			return fmt.Errorf("safetensors: write %s: tensor %q is nil", path, n)
		}
		if tensor.Numel(t.Shape) != len(t.Data) {
			return fmt.Errorf("safetensors: write %s: tensor %q has shape %v but %d values", path, n, t.Shape, len(t.Data))
		}
		entries = append(entries, Float32Entry(n, t))
	}
	return WriteEntries(path, entries, metadata)
}

// WriteEntries saves tensors to path atomically: it writes a temporary
// file in the same directory, fsyncs it, renames it over path and fsyncs
// the directory, so readers see the old file or the new one, never a
// partial one. Tensors are laid out contiguously in HF's order (dtype rank
// I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL, then sorted names), so
// every tensor stays aligned to its element size and an HF-written file is
// reproduced byte for byte. The header is padded with spaces to a multiple
// of 8 bytes, as HF does.
func WriteEntries(path string, entries []Entry, metadata map[string]string) error {
	hdr, order, err := encodeHeader(entries, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	w := bufio.NewWriter(tmp)
	var lenBuf [headerLenBytes]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	_, _ = w.Write(lenBuf[:])
	_, _ = w.Write(hdr)
	for _, i := range order {
		_, _ = w.Write(entries[i].Data)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: write %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("safetensors: write %s: fsync directory: %w", path, err)
	}
	return nil
}

// encodeHeader validates entries and builds the padded JSON header. order
// gives the entry indices in data-section order: HF's order, by dtype rank
// (widest and most aligned first) then by name.
func encodeHeader(entries []Entry, metadata map[string]string) ([]byte, []int, error) {
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ea, eb := &entries[order[a]], &entries[order[b]]
		if ra, rb := ea.DType.layoutRank(), eb.DType.layoutRank(); ra != rb {
			return ra > rb
		}
		return ea.Name < eb.Name
	})
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			buf.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		mj, err := json.Marshal(metadata) // encoding/json sorts map keys
		if err != nil {
			return nil, nil, err
		}
		sep()
		writeJSONString(&buf, metadataKey)
		buf.WriteByte(':')
		buf.Write(mj)
	}
	var offset uint64
	for k, i := range order {
		e := &entries[i]
		if e.Name == "" {
			return nil, nil, errors.New("tensor with an empty name")
		}
		if e.Name == metadataKey {
			return nil, nil, fmt.Errorf("tensor name %q is reserved", metadataKey)
		}
		if k > 0 && entries[order[k-1]].Name == e.Name {
			return nil, nil, fmt.Errorf("tensor %q given twice", e.Name)
		}
		if !e.DType.Valid() {
			return nil, nil, fmt.Errorf("tensor %q has unsupported dtype %q", e.Name, e.DType)
		}
		if !utf8.ValidString(e.Name) {
			return nil, nil, fmt.Errorf("tensor name %q is not valid UTF-8", e.Name)
		}
		numel := uint64(1)
		overflow := false
		for _, d := range e.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("tensor %q has negative dimension in shape %v", e.Name, e.Shape)
			}
			hi, lo := bits.Mul64(numel, uint64(d))
			overflow = overflow || hi != 0
			numel = lo
		}
		hi, want := bits.Mul64(numel, uint64(e.DType.Size()))
		if slices.Contains(e.Shape, 0) {
			overflow, numel, hi, want = false, 0, 0, 0
		}
		if overflow || hi != 0 {
			return nil, nil, fmt.Errorf("tensor %q: element count of shape %v overflows", e.Name, e.Shape)
		}
		if uint64(len(e.Data)) != want {
			return nil, nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, got %d", e.Name, e.Shape, e.DType, want, len(e.Data))
		}
		sep()
		writeJSONString(&buf, e.Name)
		buf.WriteString(`:{"dtype":"`)
		buf.WriteString(string(e.DType))
		buf.WriteString(`","shape":[`)
		for j, d := range e.Shape {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		end := offset + uint64(len(e.Data))
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	buf.WriteByte('}')
	for buf.Len()%headerAlign != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderSize {
		return nil, nil, fmt.Errorf("header of %d bytes exceeds the %d-byte cap", buf.Len(), MaxHeaderSize)
	}
	return buf.Bytes(), order, nil
}

// writeJSONString appends s as a JSON string literal.
func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	buf.Write(b)
}
