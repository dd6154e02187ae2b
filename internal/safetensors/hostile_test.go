package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// image assembles a safetensors file by hand: length prefix, header, data.
func image(header string, data []byte) []byte {
	buf := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(buf, uint64(len(header)))
	buf = append(buf, header...)
	return append(buf, data...)
}

func TestHostileFiles(t *testing.T) {
	eight := make([]byte, 8)
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	pastEnd := make([]byte, 16)
	binary.LittleEndian.PutUint64(pastEnd, 50)
	overCap := make([]byte, 16)
	binary.LittleEndian.PutUint64(overCap, MaxHeaderSize+1)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"truncated length", []byte{1, 2, 3}, "too short"},
		{"header length huge", huge, "exceeds"},
		{"header length over cap", overCap, "exceeds"},
		{"header past end", pastEnd, "runs past the end"},
		{"truncated data", image(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)), "run past the data section"},
		{"bad json", image(`{"a":`, nil), "bad header entry"},
		{"bad json key", image(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, nil), "not valid JSON"},
		{"bare number", image(`7`, nil), "not a JSON object"},
		{"not an object", image(`[1,2]`, nil), "not a JSON object"},
		{"trailing garbage", image(`{} {}`, nil), "trailing data"},
		{"overlap", image(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), "overlap"},
		{"offsets past end", image(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, eight), "run past the data section"},
		{"reversed offsets", image(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, eight), "reversed"},
		{"shape size mismatch", image(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), "needs 12 bytes"},
		{"unknown dtype", image(`{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, eight), `unsupported dtype "F8_E4M3"`},
		{"missing dtype", image(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, eight), "no dtype"},
		{"missing shape", image(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, eight), "no shape"},
		{"missing offsets", image(`{"a":{"dtype":"F32","shape":[2]}}`, eight), "data_offsets must be"},
		{"negative dim", image(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), "negative dimension"},
		{"fractional dim", image(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, eight), "bad header entry"},
		{"dim product overflow", image(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,5],"data_offsets":[0,8]}}`, eight), "overflows"},
		{"byte size overflow", image(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, eight), "overflows"},
		{"duplicate name", image(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, eight), "appears twice"},
		{"metadata not strings", image(`{"__metadata__":{"n":3}}`, nil), "__metadata__ must be"},
		{"entry not object", image(`{"a":7}`, nil), "bad header entry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := OpenBytes(c.file)
			require.Error(t, err)
			require.Nil(t, f)
			require.Contains(t, err.Error(), c.want)
			// The same through the mmap path.
			p := filepath.Join(t.TempDir(), "x.safetensors")
			require.NoError(t, os.WriteFile(p, c.file, 0o644))
			_, err = Open(p)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestTolerantButValid(t *testing.T) {
	// Zero-size tensors may share an offset, gaps are tolerated, scalars
	// have shape [] and one element, unknown entry fields are ignored.
	data := make([]byte, 16)
	binary.LittleEndian.PutUint32(data[12:], 0x3F800000) // 1.0
	f, err := OpenBytes(image(`{"__metadata__":{"k":"v"},"z1":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},`+
		`"z2":{"dtype":"I64","shape":[0],"data_offsets":[4,4]},"s":{"dtype":"F32","shape":[],"data_offsets":[12,16],"extra":1}}`, data))
	require.NoError(t, err)
	require.Equal(t, []string{"s", "z1", "z2"}, f.Names())
	require.Equal(t, map[string]string{"k": "v"}, f.Metadata())
	s, err := f.Float32("s")
	require.NoError(t, err)
	require.Empty(t, s.Shape)
	require.Equal(t, []float32{1}, s.Data)
	z, err := f.Float32("z1")
	require.NoError(t, err)
	require.Equal(t, []int{0, 3}, z.Shape)
	require.Empty(t, z.Data)
}

func TestInt64Dtypes(t *testing.T) {
	// Bytes laid out by hand, little-endian.
	data := []byte{
		0xFE, 0xFF, 0xFF, 0xFF, 0x05, 0x00, 0x00, 0x00, // I32: -2, 5
		0x00, 0x80, 0xFF, 0x7F, // I16: -32768, 32767
		0x80, 0x7F, // I8: -128, 127
		0xFF, 0x00, // U8: 255, 0
		0x01, 0x00, // BOOL: true, false
		0x02, // BOOL bad
	}
	hdr := `{"i32":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"i16":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},` +
		`"i8":{"dtype":"I8","shape":[2],"data_offsets":[12,14]},"u8":{"dtype":"U8","shape":[2],"data_offsets":[14,16]},` +
		`"b":{"dtype":"BOOL","shape":[2,1],"data_offsets":[16,18]},"bad":{"dtype":"BOOL","shape":[1],"data_offsets":[18,19]}}`
	f, err := OpenBytes(image(hdr, data))
	require.NoError(t, err)
	for name, want := range map[string][]int64{"i32": {-2, 5}, "i16": {-32768, 32767}, "i8": {-128, 127}, "u8": {255, 0}, "b": {1, 0}} {
		got, _, err := f.Int64(name)
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
	_, shape, _ := f.Int64("b")
	require.Equal(t, []int{2, 1}, shape)
	_, _, err = f.Int64("bad")
	require.ErrorContains(t, err, "BOOL element 0 has byte value 2")
}

func TestFloatDtypesThroughFile(t *testing.T) {
	data := []byte{
		0x00, 0x3C, 0x00, 0xC0, // F16: 1, -2
		0x80, 0x3F, 0x80, 0xBF, // BF16: 1, -1
		0, 0, 0, 0, 0, 0, 0xF8, 0x3F, // F64: 1.5
	}
	hdr := `{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},` +
		`"d":{"dtype":"F64","shape":[1,1],"data_offsets":[8,16]}}`
	f, err := OpenBytes(image(hdr, data))
	require.NoError(t, err)
	for name, want := range map[string][]float32{"h": {1, -2}, "b": {1, -1}, "d": {1.5}} {
		got, err := f.Float32(name)
		require.NoError(t, err, name)
		require.Equal(t, want, got.Data, name)
	}
	dst := make([]float32, 2)
	require.NoError(t, f.Float32Into("h", dst))
	require.Equal(t, []float32{1, -2}, dst)
	require.ErrorContains(t, f.Float32Into("h", make([]float32, 3)), "destination has 3")
}
