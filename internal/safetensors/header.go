package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"sort"
)

const (
	// headerLenBytes is the size of the little-endian u64 that starts
	// every safetensors file and gives the JSON header length.
	headerLenBytes = 8
	// MaxHeaderSize caps the JSON header length. A larger header is
	// rejected before anything is allocated for it.
	MaxHeaderSize = 100 << 20
	// metadataKey is the reserved header key for the string->string map.
	metadataKey = "__metadata__"
	// headerAlign is the alignment HF pads the header to (with spaces), so
	// the data section starts 8-byte aligned.
	headerAlign = 8
)

// TensorInfo describes one tensor: its element type and its shape,
// outermost dimension first.
type TensorInfo struct {
	DType DType
	Shape []int
}

// entry is one validated tensor of a parsed header.
type entry struct {
	info       TensorInfo
	begin, end uint64 // offsets into the data section
}

// header is a fully validated safetensors header.
type header struct {
	meta    map[string]string
	entries map[string]*entry
}

// rawEntry is the JSON form of one tensor in the header.
type rawEntry struct {
	DType       *string  `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// parseHeader validates a JSON header against a data section of dataLen
// bytes. It checks everything the reader later relies on: a JSON object
// with unique keys, an optional string->string __metadata__, known dtypes,
// non-negative dims whose product does not overflow, offsets inside the
// data section whose length matches numel*dtype size, and no two tensors
// sharing bytes.
func parseHeader(js []byte, dataLen uint64) (*header, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("safetensors: header is not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("safetensors: header is not a JSON object (starts with %v)", tok)
	}
	h := &header{entries: map[string]*entry{}}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("safetensors: header is not valid JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("safetensors: header key %v is not a string", tok)
		}
		if name == metadataKey {
			if seenMeta {
				return nil, fmt.Errorf("safetensors: header has %s twice", metadataKey)
			}
			seenMeta = true
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("safetensors: %s must be a map of strings to strings: %w", metadataKey, err)
			}
			h.meta = m
			continue
		}
		if _, dup := h.entries[name]; dup {
			return nil, fmt.Errorf("safetensors: tensor %q appears twice in the header", name)
		}
		var re rawEntry
		if err := dec.Decode(&re); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %w", name, err)
		}
		e, err := validateEntry(name, &re, dataLen)
		if err != nil {
			return nil, err
		}
		h.entries[name] = e
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("safetensors: header is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("safetensors: trailing data after the header JSON object")
	}
	if err := checkOverlaps(h.entries); err != nil {
		return nil, err
	}
	return h, nil
}

// validateEntry checks one tensor's dtype, shape and offsets.
func validateEntry(name string, re *rawEntry, dataLen uint64) (*entry, error) {
	if re.DType == nil {
		return nil, fmt.Errorf("safetensors: tensor %q has no dtype", name)
	}
	dt := DType(*re.DType)
	if !dt.Valid() {
		return nil, fmt.Errorf("safetensors: tensor %q has unsupported dtype %q", name, *re.DType)
	}
	if re.Shape == nil {
		return nil, fmt.Errorf("safetensors: tensor %q has no shape", name)
	}
	if len(re.DataOffsets) != 2 {
		return nil, fmt.Errorf("safetensors: tensor %q: data_offsets must be [begin, end], got %d values", name, len(re.DataOffsets))
	}
	shape := make([]int, len(re.Shape))
	numel := uint64(1)
	overflow := false
	for i, d := range re.Shape {
		if d < 0 {
			return nil, fmt.Errorf("safetensors: tensor %q has negative dimension %d in shape %v", name, d, re.Shape)
		}
		if uint64(d) > math.MaxInt {
			return nil, fmt.Errorf("safetensors: tensor %q dimension %d too large", name, d)
		}
		shape[i] = int(d)
		hi, lo := bits.Mul64(numel, uint64(d))
		if hi != 0 {
			overflow = true
		}
		numel = lo
	}
	if slices.Contains(re.Shape, 0) {
		overflow, numel = false, 0 // a zero dim makes the true product 0
	}
	if overflow {
		return nil, fmt.Errorf("safetensors: tensor %q: element count of shape %v overflows", name, re.Shape)
	}
	hi, nbytes := bits.Mul64(numel, uint64(dt.Size()))
	if hi != 0 || nbytes > math.MaxInt {
		return nil, fmt.Errorf("safetensors: tensor %q: byte size of shape %v overflows", name, re.Shape)
	}
	begin, end := re.DataOffsets[0], re.DataOffsets[1]
	if begin > end {
		return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] are reversed", name, begin, end)
	}
	if end > dataLen {
		return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] run past the data section (%d bytes)", name, begin, end, dataLen)
	}
	if end-begin != nbytes {
		return nil, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes but data_offsets [%d, %d] span %d",
			name, re.Shape, dt, nbytes, begin, end, end-begin)
	}
	return &entry{info: TensorInfo{DType: dt, Shape: shape}, begin: begin, end: end}, nil
}

// checkOverlaps rejects tensors whose byte ranges intersect.
func checkOverlaps(entries map[string]*entry) error {
	type span struct {
		name       string
		begin, end uint64
	}
	spans := make([]span, 0, len(entries))
	for n, e := range entries {
		if e.end > e.begin {
			spans = append(spans, span{n, e.begin, e.end})
		}
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].name < spans[j].name
	})
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return fmt.Errorf("safetensors: tensors %q [%d, %d] and %q [%d, %d] overlap",
				spans[i-1].name, spans[i-1].begin, spans[i-1].end, spans[i].name, spans[i].begin, spans[i].end)
		}
	}
	return nil
}

// splitFile validates the 8-byte length prefix of a whole file image and
// returns the header JSON and the data section.
func splitFile(buf []byte) (js, data []byte, err error) {
	if len(buf) < headerLenBytes {
		return nil, nil, fmt.Errorf("safetensors: file is %d bytes, too short for the %d-byte header length", len(buf), headerLenBytes)
	}
	n := binary.LittleEndian.Uint64(buf[:headerLenBytes])
	if n > MaxHeaderSize {
		return nil, nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte cap", n, MaxHeaderSize)
	}
	if n > uint64(len(buf)-headerLenBytes) {
		return nil, nil, fmt.Errorf("safetensors: header length %d runs past the end of the %d-byte file", n, len(buf))
	}
	end := headerLenBytes + int(n)
	return buf[headerLenBytes:end], buf[end:], nil
}
