package quant

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/fovea-ml/fovea/internal/arena"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

// quantSuffixes are the checkpoint-name endings of the Linear weights
// QuantizeModel compresses: attention and MLP projections (Llama's
// q/k/v/o/gate/up/down_proj, CLIP's fc1/fc2) and the LM head.
var quantSuffixes = []string{"_proj.weight", "fc1.weight", "fc2.weight", "lm_head.weight"}

// NamedTensor is a weight tensor with its checkpoint name.
type NamedTensor struct {
	Name string
	W    *tensor.Tensor
}

// TensorsOf lists the tagged tensors of model (a pointer to a struct with
// `weight:"..."` tags, see internal/weights.Walk) with names prefixed by
// prefix. Nil (absent optional) tensors are left out.
func TensorsOf(prefix string, model any) ([]NamedTensor, error) {
	var out []NamedTensor
	err := weights.Walk(model, func(name string, t **tensor.Tensor, _ bool) error {
		if *t != nil {
			out = append(out, NamedTensor{Name: prefix + name, W: *t})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	return out, nil
}

// Quantizable reports whether a tensor of this checkpoint name is a Linear
// weight that QuantizeModel compresses (the name ends in "_proj.weight",
// "fc1.weight", "fc2.weight" or "lm_head.weight").
func Quantizable(name string) bool {
	for _, s := range quantSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// QuantizeModel compresses to Q8_0 every distinct tensor (by pointer) that
// appears in ts under at least one Quantizable name, is 2-D, and has In a
// multiple of BlockSize; the others (norms, biases, embeddings, odd
// widths) stay float32 and are not in the map. A tied embedding (the same
// *tensor.Tensor listed as "embed_tokens.weight" and "lm_head.weight") is
// quantized once and serves both the LM head and, through Row, the token
// lookup. The matrices share one set of scratch buffers (quantized
// activations, float32 panels). The result is meant for
// backend.Eager.Prepared.
func QuantizeModel(ts []NamedTensor) (map[*tensor.Tensor]backend.PreparedMatrix, error) {
	out := make(map[*tensor.Tensor]backend.PreparedMatrix)
	shared := &scratch{} // one set of reusable buffers for all the matrices
	var todo []*Q8Matrix
	var srcs []*tensor.Tensor
	var names []string
	size := 0
	for _, nt := range ts {
		w := nt.W
		if w == nil || !Quantizable(nt.Name) || w.Dims() != 2 || w.Shape[1]%BlockSize != 0 {
			continue
		}
		if _, done := out[w]; done {
			continue
		}
		if err := checkQuantizable(w); err != nil {
			return nil, fmt.Errorf("quant: %s: %w", nt.Name, err)
		}
		o, in := w.Shape[0], w.Shape[1]
		q := &Q8Matrix{out: o, in: in, nb: in / BlockSize, scr: shared}
		out[w] = q
		todo, srcs, names = append(todo, q), append(srcs, w), append(names, nt.Name)
		size += arena.BytesSize(qsLen(o, in)) + arena.FloatsSize(scalesLen(o, in))
	}
	// One arena in the order listed (the order the forward pass reads
	// them): huge pages and one long stream for the decode kernels.
	ar := arena.New(size)
	for _, q := range todo {
		q.qs = ar.Bytes(qsLen(q.out, q.in))
		q.d = ar.Floats(scalesLen(q.out, q.in))
	}
	errs := make([]error, len(todo))
	blas.ParallelItems(len(todo), runtime.GOMAXPROCS(0), func(_, i int) {
		errs[i] = todo[i].quantize(srcs[i].Data)
	})
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("quant: %s: %w", names[i], err)
		}
	}
	return out, nil
}
