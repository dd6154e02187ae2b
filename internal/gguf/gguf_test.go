package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// builder writes GGUF bytes by hand, independently of the reader.
type builder struct{ bytes.Buffer }

func (b *builder) u32(v uint32) *builder { binary.Write(&b.Buffer, binary.LittleEndian, v); return b }
func (b *builder) u64(v uint64) *builder { binary.Write(&b.Buffer, binary.LittleEndian, v); return b }
func (b *builder) str(s string) *builder { b.u64(uint64(len(s))); b.WriteString(s); return b }

func header(version uint32, nTensors, nKV uint64) *builder {
	b := &builder{}
	b.WriteString("GGUF")
	return b.u32(version).u64(nTensors).u64(nKV)
}

func validFile() []byte {
	b := header(3, 1, 5)
	b.str("general.name").u32(uint32(TypeString)).str("tiny")
	b.str("n").u32(uint32(TypeUint32)).u32(7)
	b.str("eps").u32(uint32(TypeFloat32)).u32(math.Float32bits(1e-5))
	b.str("toks").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(2).str("a").str("bc")
	b.str("types").u32(uint32(TypeArray)).u32(uint32(TypeInt32)).u64(3).u32(1).u32(3).u32(0xFFFFFFFF)
	b.str("w").u32(2).u64(4).u64(3).u32(0).u64(0)
	for b.Len()%DefaultAlignment != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, 4*3*4)) // 4x3 float32 tensor data
	return b.Bytes()
}

func TestParseValid(t *testing.T) {
	data := validFile()
	g, err := Parse(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, uint32(3), g.Version)
	name, err := g.String("general.name")
	require.NoError(t, err)
	require.Equal(t, "tiny", name)
	n, err := g.Uint("n")
	require.NoError(t, err)
	require.Equal(t, uint64(7), n)
	eps, err := g.Float("eps")
	require.NoError(t, err)
	require.InDelta(t, 1e-5, eps, 1e-12)
	toks, err := g.Strings("toks")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "bc"}, toks)
	types, err := g.Ints("types")
	require.NoError(t, err)
	require.Equal(t, []int64{1, 3, -1}, types)
	require.Len(t, g.Tensors, 1)
	require.Equal(t, TensorInfo{Name: "w", Dims: []uint64{4, 3}, Type: 0, Offset: 0}, g.Tensors[0])
	require.Equal(t, int64(len(data)-4*3*4), g.DataOffset)

	_, err = g.String("missing")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = g.String("n")
	require.ErrorContains(t, err, `"n" is uint32, want string`)
}

func TestParseHostile(t *testing.T) {
	cases := map[string][]byte{
		"short":       []byte("GGUF"),
		"bad magic":   append([]byte("GGML"), validFile()[4:]...),
		"version 1":   header(1, 0, 0).Bytes(),
		"kv count":    header(3, 0, 1<<60).Bytes(),
		"tensors":     header(3, 1<<60, 0).Bytes(),
		"key length":  header(3, 0, 1).u64(1 << 62).u32(0).Bytes(),
		"string huge": header(3, 0, 1).str("k").u32(uint32(TypeString)).u64(1 << 40).Bytes(),
		"array huge":  header(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 59).u64(0).Bytes(),
		"bad type":    header(3, 0, 1).str("k").u32(99).u64(0).Bytes(),
		"bad elem":    header(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(42).u64(0).Bytes(),
		"bad bool":    header(3, 0, 1).str("k").u32(uint32(TypeBool)).u64(2).Bytes()[:header(3, 0, 1).Len()+8+1+4+1],
		"dup key":     header(3, 0, 2).str("k").u32(uint32(TypeUint8)).u32(0).str("k").u32(uint32(TypeUint8)).u32(0).Bytes(),
		"rank 5":      header(3, 1, 0).str("t").u32(5).u64(1).u64(1).u64(1).u64(1).u64(1).u32(0).u64(0).Bytes(),
		"truncated":   validFile()[:60],
		"nested deep": nested(maxArrayDepth + 1),
		"align 3":     header(3, 0, 1).str(AlignmentKey).u32(uint32(TypeUint32)).u32(3).Bytes(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(bytes.NewReader(data), int64(len(data)))
			require.Error(t, err)
		})
	}
}

func nested(depth int) []byte {
	b := header(3, 0, 1).str("k").u32(uint32(TypeArray))
	for i := 0; i < depth; i++ {
		b.u32(uint32(TypeArray)).u64(1)
	}
	b.u32(uint32(TypeUint8)).u64(0)
	return b.Bytes()
}

func TestOpenFixture(t *testing.T) {
	g, err := Open("../../testdata/tokenizer/ggml-vocab-llama-spm.gguf")
	require.NoError(t, err)
	toks, err := g.Strings("tokenizer.ggml.tokens")
	require.NoError(t, err)
	require.Len(t, toks, 32000)
	require.Equal(t, "<unk>", toks[0])
	bos, err := g.Uint("tokenizer.ggml.bos_token_id")
	require.NoError(t, err)
	require.Equal(t, uint64(1), bos)
}

func FuzzParse(f *testing.F) {
	f.Add(validFile())
	f.Add(nested(2))
	if data, err := os.ReadFile("../../testdata/tokenizer/ggml-vocab-llama-spm.gguf"); err == nil {
		f.Add(data[:4096])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			require.NotNil(t, g)
			require.LessOrEqual(t, len(g.KVs), len(data))
		}
	})
}
