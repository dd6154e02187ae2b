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
	y := apply(gatherK{}, b.dt, b.Node(x), in) // [R, D] (the Embedding op's kernel, embed.go)
	b.feeds[y] = feed{ids: in, n: xs[0], ignore: -1}
	return y
}

// SetRows replaces the indices of a GatherRows output (same count, each
// in [0, N)).
func (b *Backend) SetRows(gathered backend.Value, idx []int) error {
	return b.setFeed("SetRows", gathered, idx)
}
