package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenFiles are HF-written checkpoints and golden tensors copied from
// the shared golden reference data (transformers 4.45.2 save_pretrained / safetensors).
func goldenFiles(t *testing.T) []string {
	t.Helper()
	ms, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "*.safetensors"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ms), 12, "expected model+golden safetensors for 6 golden cases under testdata/")
	return ms
}

// handHeader is an independent parse of a safetensors header with
// encoding/json's plain map decoding (not the validating streaming parser
// under test).
type handEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets []uint64 `json:"data_offsets"`
}

func handParse(t *testing.T, path string) (map[string]handEntry, []byte) {
	t.Helper()
	buf, err := os.ReadFile(path)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(buf[:8])
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(buf[8:8+n], &raw))
	out := map[string]handEntry{}
	for k, v := range raw {
		if k == "__metadata__" {
			continue
		}
		var e handEntry
		require.NoError(t, json.Unmarshal(v, &e))
		out[k] = e
	}
	return out, buf[8+n:]
}

func TestGoldenFilesOpenAndMatchIndependentDecode(t *testing.T) {
	for _, path := range goldenFiles(t) {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			f, err := Open(path)
			require.NoError(t, err)
			defer func() { require.NoError(t, f.Close()) }()
			want, data := handParse(t, path)
			require.Len(t, f.Names(), len(want))
			require.Equal(t, "pt", f.Metadata()["format"])
			for name, he := range want {
				info, ok := f.Info(name)
				require.True(t, ok, name)
				require.Equal(t, DType(he.DType), info.DType, name)
				require.Equal(t, he.Shape, info.Shape, name)
				seg := data[he.Offsets[0]:he.Offsets[1]]
				switch he.DType {
				case "F32":
					got, err := f.Float32(name)
					require.NoError(t, err)
					require.Equal(t, he.Shape, got.Shape)
					require.Len(t, got.Data, len(seg)/4)
					for i := range got.Data {
						wantBits := binary.LittleEndian.Uint32(seg[4*i:])
						if math.Float32bits(got.Data[i]) != wantBits {
							t.Fatalf("%s[%d]: got bits %08x want %08x", name, i, math.Float32bits(got.Data[i]), wantBits)
						}
					}
				case "I64":
					got, shape, err := f.Int64(name)
					require.NoError(t, err)
					require.Equal(t, he.Shape, shape)
					require.Len(t, got, len(seg)/8)
					for i := range got {
						require.Equal(t, int64(binary.LittleEndian.Uint64(seg[8*i:])), got[i], "%s[%d]", name, i)
					}
				default:
					t.Fatalf("unexpected dtype %s in golden file", he.DType)
				}
				raw, err := f.Raw(name)
				require.NoError(t, err)
				require.Equal(t, seg, raw)
			}
		})
	}
}

// TestGoldenKnownValues checks values against the golden READMEs, which
// were written by the HF side: llama_tiny input_ids start with BOS=1.
func TestGoldenKnownValues(t *testing.T) {
	f, err := Open(filepath.Join("..", "..", "testdata", "llama_tiny", "golden.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	ids, shape, err := f.Int64("input_ids")
	require.NoError(t, err)
	require.Equal(t, []int{1, 12}, shape)
	require.Equal(t, int64(1), ids[0])
	mask, _, err := f.Int64("attention_mask")
	require.NoError(t, err)
	for _, v := range mask {
		require.Equal(t, int64(1), v)
	}
	logits, err := f.Float32("logits")
	require.NoError(t, err)
	require.Equal(t, []int{1, 12, 384}, logits.Shape)
	_, err = f.Float32("input_ids")
	require.ErrorContains(t, err, "not a float type")
	_, _, err = f.Int64("logits")
	require.ErrorContains(t, err, "not an integer type")
	_, err = f.Float32("nope")
	require.ErrorContains(t, err, `no tensor "nope"`)
}

func TestFloat32IsFreshCopy(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "llama_tiny", "model.safetensors")
	f, err := Open(path)
	require.NoError(t, err)
	a, err := f.Float32("model.norm.weight")
	require.NoError(t, err)
	orig := a.Data[0]
	a.Data[0] = 12345
	b, err := f.Float32("model.norm.weight")
	require.NoError(t, err)
	require.Equal(t, orig, b.Data[0])
	require.NoError(t, f.Close())
	require.NoError(t, f.Close()) // idempotent
	require.Equal(t, float32(12345), a.Data[0], "tensor must survive Close")
	_, err = f.Float32("model.norm.weight")
	require.ErrorContains(t, err, "closed")
}

func TestOpenDirectory(t *testing.T) {
	f, err := Open(filepath.Join("..", "..", "testdata", "llama_tiny"))
	require.NoError(t, err)
	defer f.Close()
	_, ok := f.Info("lm_head.weight")
	require.True(t, ok)
	_, err = Open(t.TempDir())
	require.ErrorContains(t, err, "neither")
}
