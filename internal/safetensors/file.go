package safetensors

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fovea-ml/fovea/internal/fsx"
	"github.com/fovea-ml/fovea/internal/tensor"
)

const (
	// IndexFileName is the index HF writes next to a sharded checkpoint.
	IndexFileName = "model.safetensors.index.json"
	// SingleFileName is the file HF writes for an unsharded checkpoint.
	SingleFileName = "model.safetensors"
	// indexSuffix identifies an index file passed to Open directly.
	indexSuffix = ".index.json"
)

// File is an open, validated safetensors checkpoint: one file or a set of
// shards behind an index. Tensor bytes live in a read-only memory map
// until Close; Float32 and Int64 copy out of it, Raw returns views into it.
// A File is safe for concurrent readers; Close must not race with them.
type File struct {
	entries  map[string]*fileEntry
	names    []string
	meta     map[string]string
	releases []func() error
	closed   bool
}

// fileEntry is a validated tensor and the data section that holds it.
type fileEntry struct {
	entry
	data []byte // the data section of the shard holding the tensor
	path string // the shard file, for error messages
}

// Open opens a checkpoint. path may be a .safetensors file, a
// model.safetensors.index.json (or any *.index.json) of a sharded
// checkpoint, or a directory holding either (the index wins). Every file is
// memory-mapped and its header validated before Open returns.
func Open(path string) (*File, error) {
	st, err := fsx.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if st.IsDir() {
		idx := filepath.Join(path, IndexFileName)
		if _, err := os.Stat(idx); err == nil {
			return openIndex(idx)
		}
		single := filepath.Join(path, SingleFileName)
		if _, err := os.Stat(single); err == nil {
			return openSingle(single)
		}
		return nil, fmt.Errorf("safetensors: directory %s has neither %s nor %s", path, IndexFileName, SingleFileName)
	}
	if strings.HasSuffix(path, indexSuffix) {
		return openIndex(path)
	}
	return openSingle(path)
}

// openSingle maps and validates one .safetensors file.
func openSingle(path string) (*File, error) {
	f, err := fsx.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	if size < headerLenBytes {
		return nil, fmt.Errorf("safetensors: %s is %d bytes, too short for the %d-byte header length", path, size, headerLenBytes)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s is too large (%d bytes) for this platform", path, size)
	}
	buf, release, err := mapFile(f, int(size))
	if err != nil {
		return nil, err
	}
	file, err := fromBytes(buf, path)
	if err != nil {
		_ = release()
		return nil, err
	}
	file.releases = append(file.releases, release)
	return file, nil
}

// fromBytes builds a File over a whole-file image (not copied).
func fromBytes(buf []byte, path string) (*File, error) {
	js, data, err := splitFile(buf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h, err := parseHeader(js, uint64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &File{entries: make(map[string]*fileEntry, len(h.entries)), meta: h.meta}
	for n, e := range h.entries {
		f.entries[n] = &fileEntry{entry: *e, data: data, path: path}
	}
	f.sortNames()
	return f, nil
}

// OpenBytes parses a safetensors image held in memory (not copied; buf
// must stay unchanged while the File is used). It applies the same
// validation as Open.
func OpenBytes(buf []byte) (*File, error) {
	return fromBytes(buf, "<memory>")
}

func (f *File) sortNames() {
	f.names = make([]string, 0, len(f.entries))
	for n := range f.entries {
		f.names = append(f.names, n)
	}
	sort.Strings(f.names)
}

// Close releases every memory map. Views returned by Raw become invalid.
// Closing twice is a no-op.
func (f *File) Close() error {
	if f == nil || f.closed {
		return nil
	}
	f.closed = true
	var errs []error
	for _, r := range f.releases {
		errs = append(errs, r())
	}
	f.releases = nil
	f.entries = map[string]*fileEntry{}
	return errors.Join(errs...)
}

// Names lists every tensor name, sorted. The caller may modify the slice.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Info returns a tensor's dtype and shape (the shape is a copy).
func (f *File) Info(name string) (TensorInfo, bool) {
	e, ok := f.entries[name]
	if !ok {
		return TensorInfo{}, false
	}
	return TensorInfo{DType: e.info.DType, Shape: append([]int(nil), e.info.Shape...)}, true
}

// Metadata returns a copy of the __metadata__ map (for a sharded
// checkpoint: the index's "metadata", non-string values in their JSON
// spelling). It is never nil.
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

func (f *File) lookup(name string) (*fileEntry, error) {
	if f.closed {
		return nil, fmt.Errorf("safetensors: tensor %q: file is closed", name)
	}
	e, ok := f.entries[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	return e, nil
}

// Raw returns the tensor's little-endian bytes as a read-only view of the
// memory map, valid until Close. Writing to it faults.
func (f *File) Raw(name string) ([]byte, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	return e.data[e.begin:e.end:e.end], nil
}

// Float32 returns a fresh tensor (safe to mutate, independent of the map)
// holding the named F32, F16, BF16 or F64 tensor converted to float32.
func (f *File) Float32(name string) (*tensor.Tensor, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !e.info.DType.IsFloat() {
		return nil, fmt.Errorf("safetensors: tensor %q has dtype %s, not a float type (use Int64)", name, e.info.DType)
	}
	t := tensor.New(e.info.Shape...) // sizes were validated against the file
	if err := decodeFloat32(e.info.DType, e.data[e.begin:e.end], t.Data); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return t, nil
}

// Int64 returns the named I64, I32, I16, I8, U8 or BOOL tensor widened to
// int64, with its shape.
func (f *File) Int64(name string) ([]int64, []int, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if !e.info.DType.IsInt() {
		return nil, nil, fmt.Errorf("safetensors: tensor %q has dtype %s, not an integer type (use Float32)", name, e.info.DType)
	}
	out := make([]int64, tensor.Numel(e.info.Shape))
	if err := decodeInt64(e.info.DType, e.data[e.begin:e.end], out); err != nil {
		return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return out, append([]int(nil), e.info.Shape...), nil
}

// Float32Into decodes the named float tensor into dst, which must have
// exactly its element count: the no-extra-copy path used by the weights
// binder to fill pre-allocated tensors.
func (f *File) Float32Into(name string, dst []float32) error {
	e, err := f.lookup(name)
	if err != nil {
		return err
	}
	if !e.info.DType.IsFloat() {
		return fmt.Errorf("safetensors: tensor %q has dtype %s, not a float type", name, e.info.DType)
	}
	if n := tensor.Numel(e.info.Shape); n != len(dst) {
		return fmt.Errorf("safetensors: tensor %q has %d elements (shape %v), destination has %d", name, n, e.info.Shape, len(dst))
	}
	if err := decodeFloat32(e.info.DType, e.data[e.begin:e.end], dst); err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	return nil
}
