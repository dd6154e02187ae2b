package graph

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ---- concatenation along one axis ----

// concatKind joins n inputs along axis (every other dim equal) by block
// copies: with outer the product of the dims before axis and inner that
// of the dims after it, input i is outer blocks of len_i·inner elements,
// laid side by side in each of the output's outer rows. Input i's gradient
// copies its blocks back out of dy. It replaces gorgonia's Concat, whose
// forward pass and whose gradient (Slice nodes, then Materialize) walk
// every element through a FlatIterator.
type concatK struct{ axis, n int }

func (k concatK) name() string { return fmt.Sprintf("Concat{axis=%d,n=%d}", k.axis, k.n) }
func (k concatK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in) != k.n || k.n == 0 {
		return nil, fmt.Errorf("%d inputs, want %d", len(in), k.n)
	}
	first := in[0]
	if k.axis < 0 || k.axis >= len(first) {
		return nil, fmt.Errorf("axis %d of %v", k.axis, first)
	}
	out := first.Clone()
	out[k.axis] = 0
	for _, s := range in {
		if len(s) != len(first) {
			return nil, fmt.Errorf("inputs %v", in)
		}
		for d := range s {
			if d != k.axis && s[d] != first[d] {
				return nil, fmt.Errorf("inputs %v differ outside axis %d", in, k.axis)
			}
		}
		out[k.axis] += s[k.axis]
	}
	return out, nil
}
func (k concatK) diffWRT() []bool {
	d := make([]bool, k.n)
	for i := range d {
		d[i] = true
	}
	return d
}
func (concatK) overwrites() bool { return true }

// blocks returns the outer count, each input's block width and the
// output row width.
func (k concatK) blocks(in []gorgonia.Value) (outer int, widths []int, row int) {
	s := in[0].Shape()
	outer = 1
	for _, d := range s[:k.axis] {
		outer *= d
	}
	inner := 1
	for _, d := range s[k.axis+1:] {
		inner *= d
	}
	widths = make([]int, len(in))
	for i, v := range in {
		widths[i] = v.Shape()[k.axis] * inner
		row += widths[i]
	}
	return outer, widths, row
}

func (k concatK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		concatRun(k, buf[float64](out), in)
	} else {
		concatRun(k, buf[float32](out), in)
	}
}

func concatRun[F float](k concatK, y []F, in []gorgonia.Value) {
	outer, widths, row := k.blocks(in)
	off := 0
	for i, v := range in {
		x, w := data[F](v), widths[i]
		for o := range outer {
			copy(y[o*row+off:o*row+off+w], x[o*w:(o+1)*w])
		}
		off += w
	}
}

func (k concatK) backward(i int, dx float64Or32, in []gorgonia.Value, _, dy gorgonia.Value) {
	if is64(dx) {
		concatGrad(k, i, buf[float64](dx), in, data[float64](dy))
	} else {
		concatGrad(k, i, buf[float32](dx), in, data[float32](dy))
	}
}

func concatGrad[F float](k concatK, i int, dx []F, in []gorgonia.Value, dy []F) {
	outer, widths, row := k.blocks(in)
	off := 0
	for _, w := range widths[:i] {
		off += w
	}
	w := widths[i]
	for o := range outer {
		copy(dx[o*w:(o+1)*w], dy[o*row+off:o*row+off+w])
	}
}
