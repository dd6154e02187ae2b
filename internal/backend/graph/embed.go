package graph

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/blas"
)

// ---- embedding: table [V, D], ids Int [N] → [N, D] ----

// gatherK copies table rows by id; the gradient scatter-adds dy rows into
// a zeroed [V, D] (duplicate ids add up). It replaces gorgonia's ByIndices,
// whose gradient allocates the [V, D] table afresh every run; here the op
// owns it. The ids input is not differentiated.
type gatherK struct{}

func (gatherK) name() string { return "Gather" }
func (gatherK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	t, ids := in[0], in[1]
	if len(t) != 2 || len(ids) != 1 {
		return nil, fmt.Errorf("table %v, ids %v", t, ids)
	}
	return tensor.Shape{ids[0], t[1]}, nil
}
func (gatherK) diffWRT() []bool  { return []bool{true, false} }
func (gatherK) overwrites() bool { return false } // the gradient accumulates into zeros
func (gatherK) forward(out float64Or32, in []gorgonia.Value) {
	d := in[0].Shape()[1]
	ids := ints(in[1])
	if is64(out) {
		gatherRows(buf[float64](out), data[float64](in[0]), ids, d)
	} else {
		gatherRows(buf[float32](out), data[float32](in[0]), ids, d)
	}
}
func (gatherK) backward(_ int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	d := in[0].Shape()[1]
	ids := ints(in[1])
	if is64(dx) {
		scatterRows(buf[float64](dx), data[float64](dy), ids, d)
	} else {
		scatterRows(buf[float32](dx), data[float32](dy), ids, d)
	}
}

func gatherRows[F float](y, table []F, ids []int, d int) {
	for i, id := range ids {
		copy(y[i*d:(i+1)*d], table[id*d:(id+1)*d])
	}
}

// scatterRows adds row i of dy to row ids[i] of dt (dt zeroed by the caller).
func scatterRows[F float](dt, dy []F, ids []int, d int) {
	if d32, ok := any(dt).([]float32); ok {
		g32 := any(dy).([]float32)
		for i, id := range ids {
			blas.Saxpy(d, 1, g32[i*d:(i+1)*d], d32[id*d:(id+1)*d])
		}
		return
	}
	for i, id := range ids {
		row := dt[id*d : (id+1)*d]
		for j, v := range dy[i*d : (i+1)*d] {
			row[j] += v
		}
	}
}
