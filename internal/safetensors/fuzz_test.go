package safetensors

import (
	"testing"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// FuzzParseHeader feeds arbitrary header JSON and data-section lengths to
// the validator. Whatever it accepts must satisfy the invariants the
// reader relies on; it must never panic.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`), uint64(16))
	f.Add([]byte(`{"a":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`), uint64(2))
	f.Add([]byte(`{"a":{"dtype":"F16","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`), uint64(8))
	f.Add([]byte(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`), uint64(8))
	f.Add([]byte(`{}`), uint64(0))
	f.Fuzz(func(t *testing.T, js []byte, dataLen uint64) {
		h, err := parseHeader(js, dataLen)
		if err != nil {
			return
		}
		type span struct{ b, e uint64 }
		var spans []span
		for name, e := range h.entries {
			if !e.info.DType.Valid() {
				t.Fatalf("%q: accepted dtype %q", name, e.info.DType)
			}
			if e.end > dataLen || e.begin > e.end {
				t.Fatalf("%q: accepted offsets [%d,%d] for %d bytes", name, e.begin, e.end, dataLen)
			}
			for _, d := range e.info.Shape {
				if d < 0 {
					t.Fatalf("%q: accepted shape %v", name, e.info.Shape)
				}
			}
			if uint64(tensor.Numel(e.info.Shape)*e.info.DType.Size()) != e.end-e.begin {
				t.Fatalf("%q: shape %v %s does not match [%d,%d]", name, e.info.Shape, e.info.DType, e.begin, e.end)
			}
			if e.end > e.begin {
				for _, s := range spans {
					if e.begin < s.e && s.b < e.end {
						t.Fatalf("%q: overlapping ranges accepted", name)
					}
				}
				spans = append(spans, span{e.begin, e.end})
			}
		}
	})
}

// FuzzOpen feeds whole file images to OpenBytes and reads every tensor it
// accepts; nothing may panic.
func FuzzOpen(f *testing.F) {
	f.Add(image(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(image(`{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}}`, make([]byte, 12)))
	f.Add(image(`{"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}`, []byte{0, 1, 2}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, buf []byte) {
		file, err := OpenBytes(buf)
		if err != nil {
			return
		}
		for _, n := range file.Names() {
			info, ok := file.Info(n)
			if !ok {
				t.Fatalf("Names lists %q but Info does not know it", n)
			}
			if info.DType.IsFloat() {
				if _, err := file.Float32(n); err != nil {
					t.Fatalf("%q: validated float tensor failed to decode: %v", n, err)
				}
			} else {
				_, _, _ = file.Int64(n) // BOOL bytes other than 0/1 are an error, fine
			}
			raw, err := file.Raw(n)
			if err != nil || len(raw) != tensor.Numel(info.Shape)*info.DType.Size() {
				t.Fatalf("%q: Raw returned %d bytes, err %v", n, len(raw), err)
			}
		}
	})
}
