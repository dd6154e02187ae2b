package graph

import (
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
)

// GatherRows picks rows of x [N, D] → [len(idx), D]: out[r] = x[idx[r]].
// Rows may repeat; the gradient scatter-adds back into x. The indices are
// an input of the graph, so SetRows rebinds them between runs without
// rebuilding: a trainer splices image features into token embeddings
// (x = text rows ++ image rows, idx = where each position comes from)
// and keeps only the positions that have a target before the LM head,
// with one compiled graph for every batch of a shape bucket.
func (b *Backend) GatherRows(x backend.Value, idx []int) backend.Value {
	xs := b.Shape(x)
	if len(xs) != 2 || len(idx) == 0 {
		panic(fmt.Sprintf("graph.GatherRows: x %v, %d indices (want x [N, D] and at least one index)", xs, len(idx)))
	}
	if err := checkIDs(idx, xs[0], -1); err != nil {
		panic("graph.GatherRows: " + err.Error())
	}
	in := gorgonia.NewTensor(b.g, tensor.Int, 1, gorgonia.WithShape(len(idx)), gorgonia.WithName(b.name("rows")),
		gorgonia.WithValue(tensor.New(tensor.WithShape(len(idx)), tensor.WithBacking(slices.Clone(idx)))))
	y := apply(gatherK{}, b.dt, b.Node(x), in) // [R, D]
	b.feeds[y] = feed{ids: in, n: xs[0], ignore: -1}
	return y
}

// SetRows replaces the indices of a GatherRows output (same count, each
// in [0, N)).
func (b *Backend) SetRows(gathered backend.Value, idx []int) error {
	return b.setFeed("SetRows", gathered, idx)
}

// gatherK is out[r, :] = x[idx[r], :]; the gradient adds dy[r] into
// dx[idx[r]].
type gatherK struct{}

func (gatherK) name() string { return "GatherRows" }
func (gatherK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x, idx := in[0], in[1]
	if len(x) != 2 || len(idx) != 1 {
		return nil, fmt.Errorf("x %v, indices %v (want [N, D] and [R])", x, idx)
	}
	return tensor.Shape{idx[0], x[1]}, nil
}
func (gatherK) diffWRT() []bool { return []bool{true, false} }
func (gatherK) forward(out float64Or32, in []gorgonia.Value) {
	idx := ints(in[1])
	if is64(out) {
		gatherFwd(buf[float64](out), data[float64](in[0]), idx)
	} else {
		gatherFwd(buf[float32](out), data[float32](in[0]), idx)
	}
}
func (gatherK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	idx := ints(in[1])
	if is64(dx) {
		gatherBwd(buf[float64](dx), data[float64](dy), idx)
	} else {
		gatherBwd(buf[float32](dx), data[float32](dy), idx)
	}
}

func gatherFwd[F float](out, x []F, idx []int) {
	d := len(out) / len(idx)
	for r, i := range idx {
		copy(out[r*d:(r+1)*d], x[i*d:(i+1)*d])
	}
}

func gatherBwd[F float](dx, dy []F, idx []int) {
	clear(dx)
	d := len(dy) / len(idx)
	for r, i := range idx {
		row, g := dx[i*d:(i+1)*d], dy[r*d:(r+1)*d]
		for j := range row {
			row[j] += g[j]
		}
	}
}
