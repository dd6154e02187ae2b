package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

// TestRewriteGoldenByteIdentical rewrites every HF-written golden file from
// its raw entries and requires the exact bytes HF's safetensors produced:
// same tensor order, JSON spelling, offsets and padding.
func TestRewriteGoldenByteIdentical(t *testing.T) {
	for _, path := range goldenFiles(t) {
		f, err := Open(path)
		require.NoError(t, err)
		var entries []Entry
		for _, n := range f.Names() {
			info, _ := f.Info(n)
			raw, err := f.Raw(n)
			require.NoError(t, err)
			entries = append(entries, Entry{Name: n, DType: info.DType, Shape: info.Shape, Data: raw})
		}
		out := filepath.Join(t.TempDir(), "rewrite.safetensors")
		require.NoError(t, WriteEntries(out, entries, f.Metadata()))
		require.NoError(t, f.Close())
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		require.True(t, string(want) == string(got), "%s: rewrite differs from the HF-written file", path)
	}
}

func TestWriteRoundTripAndLayout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	a := tensor.FromData([]float32{1, -2.5, float32(math.Inf(1)), 3e-41}, 2, 2)
	b := tensor.FromData([]float32{7}, 1)
	ids := []int64{1, -1, 1 << 40}
	entries := []Entry{Float32Entry("b", b), Int64Entry("gen", ids, 1, 3), Float32Entry("a", a)}
	require.NoError(t, WriteEntries(path, entries, map[string]string{"format": "pt", "k": "v"}))

	buf, err := os.ReadFile(path)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(buf[:8])
	require.Zero(t, n%8, "header padded to 8 bytes")
	hdr := buf[8 : 8+n]
	var parsed map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(hdr, &parsed), "header parses with encoding/json")
	require.Equal(t, `{"__metadata__":{"format":"pt","k":"v"},"gen":{"dtype":"I64","shape":[1,3],"data_offsets":[0,24]},`+
		`"a":{"dtype":"F32","shape":[2,2],"data_offsets":[24,40]},"b":{"dtype":"F32","shape":[1],"data_offsets":[40,44]}}`,
		string(trimSpaces(hdr)))
	data := buf[8+n:]
	require.Len(t, data, 44)
	require.Equal(t, uint64(1<<40), binary.LittleEndian.Uint64(data[16:]))
	require.Equal(t, math.Float32bits(-2.5), binary.LittleEndian.Uint32(data[28:]))

	f, err := Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, []string{"a", "b", "gen"}, f.Names())
	got, err := f.Float32("a")
	require.NoError(t, err)
	require.Equal(t, a.Shape, got.Shape)
	require.Equal(t, a.Data, got.Data)
	gids, shape, err := f.Int64("gen")
	require.NoError(t, err)
	require.Equal(t, ids, gids)
	require.Equal(t, []int{1, 3}, shape)

	// Deterministic: same input, same bytes (map iteration order is random).
	path2 := filepath.Join(dir, "m2.safetensors")
	m := map[string]*tensor.Tensor{"x": a, "y": b, "w": a.Clone(), "z": b.Clone()}
	require.NoError(t, Write(path2, m, nil))
	first, _ := os.ReadFile(path2)
	for i := 0; i < 5; i++ {
		require.NoError(t, Write(path2, m, nil))
		again, _ := os.ReadFile(path2)
		require.Equal(t, first, again)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	require.Empty(t, left, "no temp files left behind")
}

func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

func TestWriteRejectsBadEntries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.safetensors")
	require.NoError(t, os.WriteFile(path, []byte("keep"), 0o644))
	cases := map[string]struct {
		entries []Entry
		want    string
	}{
		"duplicate": {[]Entry{Int64Entry("a", []int64{1}), Int64Entry("a", []int64{2})}, "given twice"},
		"size":      {[]Entry{{Name: "a", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}}, "needs 12 bytes, got 8"},
		"dtype":     {[]Entry{{Name: "a", DType: "Q4", Shape: []int{1}, Data: make([]byte, 1)}}, "unsupported dtype"},
		"reserved":  {[]Entry{Int64Entry("__metadata__", []int64{1})}, "reserved"},
		"empty":     {[]Entry{Int64Entry("", []int64{1})}, "empty name"},
		"negative":  {[]Entry{{Name: "a", DType: U8, Shape: []int{-1}}}, "negative"},
		"overflow":  {[]Entry{{Name: "a", DType: U8, Shape: []int{1 << 32, 1 << 32, 5}}}, "overflows"},
	}
	for name, c := range cases {
		err := WriteEntries(path, c.entries, nil)
		require.ErrorContains(t, err, c.want, name)
	}
	err := Write(path, map[string]*tensor.Tensor{"t": {Shape: []int{2}, Data: []float32{1}}}, nil)
	require.ErrorContains(t, err, "shape [2] but 1 values")
	kept, _ := os.ReadFile(path)
	require.Equal(t, "keep", string(kept), "failed writes leave the old file intact")
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	require.Empty(t, left)
}

func writeIndex(t *testing.T, dir string, weightMap map[string]string) string {
	t.Helper()
	js, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 24}, "weight_map": weightMap})
	require.NoError(t, err)
	p := filepath.Join(dir, IndexFileName)
	require.NoError(t, os.WriteFile(p, js, 0o644))
	return p
}

func TestShardedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	a := tensor.FromData([]float32{1, 2, 3}, 3)
	b := tensor.FromData([]float32{4, 5}, 2, 1)
	c := tensor.FromData([]float32{6}, 1)
	s1, s2 := "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
	require.NoError(t, Write(filepath.Join(dir, s1), map[string]*tensor.Tensor{"a": a, "b": b}, nil))
	require.NoError(t, Write(filepath.Join(dir, s2), map[string]*tensor.Tensor{"c": c}, nil))
	idx := writeIndex(t, dir, map[string]string{"a": s1, "b": s1, "c": s2})

	for _, p := range []string{idx, dir} {
		f, err := Open(p)
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b", "c"}, f.Names())
		require.Equal(t, "24", f.Metadata()["total_size"])
		got, err := f.Float32("c")
		require.NoError(t, err)
		require.Equal(t, []float32{6}, got.Data)
		got, err = f.Float32("b")
		require.NoError(t, err)
		require.Equal(t, []int{2, 1}, got.Shape)
		require.Equal(t, []float32{4, 5}, got.Data)
		require.NoError(t, f.Close())
	}

	bad := map[string]struct {
		wm   map[string]string
		want string
	}{
		"missing shard":   {map[string]string{"a": s1, "b": s1, "c": "model-00003.safetensors"}, "no such file"},
		"absent in shard": {map[string]string{"a": s1, "b": s1, "c": s2, "d": s2}, `absent from their shard: d`},
		"unlisted":        {map[string]string{"a": s1, "c": s2}, `"b" that the weight_map does not list`},
		"wrong shard":     {map[string]string{"a": s1, "b": s2, "c": s2}, `"b" is in shard`},
		"path escape":     {map[string]string{"a": "../x.safetensors"}, "not a plain file name"},
	}
	for name, c := range bad {
		writeIndex(t, dir, c.wm)
		_, err := Open(dir)
		require.ErrorContains(t, err, c.want, name)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map": 3}`), 0o644))
	_, err := Open(dir)
	require.ErrorContains(t, err, "index")
}
