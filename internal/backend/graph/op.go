package graph

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernel is the math of one custom op: a forward pass and, per input, a
// backward pass. The generic fwdOp/bwdOp wrappers turn a kernel into a
// gorgonia Op (with symbolic differentiation), so each kernel only states
// its arithmetic.
type kernel interface {
	// name describes the kernel and ALL its parameters; it feeds WriteHash,
	// so two kernels with equal names are merged by gorgonia.
	name() string
	// outShape validates the input shapes and returns the output shape
	// (an empty shape means a scalar).
	outShape(in []tensor.Shape) (tensor.Shape, error)
	// diffWRT tells which inputs have a gradient.
	diffWRT() []bool
	// forward writes the output into out.
	forward(out float64Or32, in []gorgonia.Value)
	// backward writes the gradient of input i into dx, given the forward
	// inputs, the forward output y and the output gradient dy.
	backward(i int, dx float64Or32, in []gorgonia.Value, y, dy gorgonia.Value)
}

// float64Or32 is a one-element slot holding either a []float32 or a
// []float64 output buffer; kernels pick the element type with buf32/buf64.
type float64Or32 = any

// float is the element type of a graph: float32 for training, float64 for
// gradient checks.
type float interface{ ~float32 | ~float64 }

// data returns the elements of a gorgonia value (tensor or scalar) as []F.
// A scalar is returned as a one-element slice (a copy).
func data[F float](v gorgonia.Value) []F {
	switch d := v.Data().(type) {
	case []F:
		return d
	case F:
		return []F{d}
	}
	panic(fmt.Sprintf("graph: value of %T, want %T", v.Data(), *new(F)))
}

// ints returns the elements of an Int tensor value.
func ints(v gorgonia.Value) []int {
	d, ok := v.Data().([]int)
	if !ok {
		panic(fmt.Sprintf("graph: value of %T, want []int", v.Data()))
	}
	return d
}

// buf unwraps an output buffer given to a kernel.
func buf[F float](o float64Or32) []F { return o.([]F) }

// is64 reports whether an output buffer is float64.
func is64(o float64Or32) bool { _, ok := o.([]float64); return ok }

// shapeOf turns the DimSizers gorgonia passes to InferShape into shapes.
func shapesOf(in []gorgonia.DimSizer) ([]tensor.Shape, error) {
	out := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("graph: input %d has no static shape (%T)", i, d)
		}
		out[i] = s
	}
	return out, nil
}

func typeOf(shape tensor.Shape, dt tensor.Dtype) hm.Type {
	if len(shape) == 0 {
		return dt
	}
	return gorgonia.TensorType{Dims: len(shape), Of: dt}
}

// newBuffer allocates an output of the given shape; a scalar uses one element.
func newBuffer(shape tensor.Shape, dt tensor.Dtype) (*tensor.Dense, float64Or32) {
	s := shape.Clone()
	if len(s) == 0 {
		s = tensor.Shape{1}
	}
	d := tensor.New(tensor.Of(dt), tensor.WithShape(s...))
	return d, d.Data()
}

// finish turns a buffer into the Value gorgonia expects for shape.
func finish(d *tensor.Dense, shape tensor.Shape) gorgonia.Value {
	if len(shape) > 0 {
		return d
	}
	switch x := d.Data().(type) {
	case []float32:
		return gorgonia.NewF32(x[0])
	case []float64:
		return gorgonia.NewF64(x[0])
	}
	panic(fmt.Sprintf("graph: scalar of %T", d.Data()))
}

func hashOf(op gorgonia.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// overwriter is a kernel whose forward and backward passes write every
// element of their output buffer, so a reused buffer needs no clearing.
// Kernels without it get a zeroed buffer on every call.
type overwriter interface{ overwrites() bool }

// fwdOp is the forward gorgonia Op of a kernel. It knows its input types
// and output type, fixed when the node is built (graph shapes are static).
type fwdOp struct {
	k     kernel
	in    []hm.Type
	shape tensor.Shape
	dt    tensor.Dtype
	// inputs are the nodes the op was applied to. frozen[i], set by
	// Backend.Backward before differentiation, marks an input that no
	// trainable parameter influences (a frozen weight, a constant, or
	// anything computed from them only): it gets no gradient node, so no
	// gradient work is done for it at all.
	inputs []*gorgonia.Node
	frozen []bool
	// out is the output buffer, allocated on the first run and reused by
	// every later run of the machine (shapes are static).
	out outBuf
}

// outBuf is an op's reusable output buffer.
type outBuf struct{ d *tensor.Dense }

// get returns the buffer for shape, allocating it the first time and
// zeroing it on reuse unless k overwrites every element anyway.
func (b *outBuf) get(k kernel, shape tensor.Shape, dt tensor.Dtype) (*tensor.Dense, float64Or32) {
	if b.d == nil {
		b.d, _ = newBuffer(shape, dt)
		return b.d, b.d.Data()
	}
	if o, ok := k.(overwriter); !ok || !o.overwrites() {
		switch x := b.d.Data().(type) {
		case []float32:
			clear(x)
		case []float64:
			clear(x)
		}
	}
	return b.d, b.d.Data()
}

// apply builds the node k(inputs...), panicking with the kernel's name on
// a shape error (a programmer error in layer code).
func apply(k kernel, dt tensor.Dtype, inputs ...*gorgonia.Node) *gorgonia.Node {
	shapes := make([]tensor.Shape, len(inputs))
	types := make([]hm.Type, len(inputs))
	for i, n := range inputs {
		shapes[i] = n.Shape().Clone()
		types[i] = n.Type()
	}
	s, err := k.outShape(shapes)
	if err != nil {
		panic(fmt.Sprintf("graph.%s: %v", k.name(), err))
	}
	op := &fwdOp{k: k, in: types, shape: s, dt: dt, inputs: inputs}
	n, err := gorgonia.ApplyOp(op, inputs...)
	if err != nil {
		panic(fmt.Sprintf("graph.%s: %v", k.name(), err))
	}
	return n
}

func (op *fwdOp) Arity() int { return len(op.in) }
func (op *fwdOp) Type() hm.Type {
	ts := append(append([]hm.Type(nil), op.in...), typeOf(op.shape, op.dt))
	return hm.NewFnType(ts...)
}
func (op *fwdOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	shapes, err := shapesOf(in)
	if err != nil {
		return nil, err
	}
	return op.k.outShape(shapes)
}
func (op *fwdOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	if len(in) != len(op.in) {
		return nil, fmt.Errorf("graph.%s: %d inputs, want %d", op.k.name(), len(in), len(op.in))
	}
	d, out := op.out.get(op.k, op.shape, op.dt)
	op.k.forward(out, in)
	return finish(d, op.shape), nil
}
func (op *fwdOp) ReturnsPtr() bool      { return false }
func (op *fwdOp) CallsExtern() bool     { return false }
func (op *fwdOp) OverwritesInput() int  { return -1 }
func (op *fwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "fovea.%s", op.k.name()) }
func (op *fwdOp) Hashcode() uint32      { return hashOf(op) }
func (op *fwdOp) String() string        { return op.k.name() }

// DiffWRT implements gorgonia.SDOp: the kernel's differentiable inputs
// less the frozen ones.
func (op *fwdOp) DiffWRT(inputs int) []bool {
	d := op.k.diffWRT()
	if len(d) != inputs {
		panic(fmt.Sprintf("graph.%s: DiffWRT for %d inputs, op has %d", op.k.name(), inputs, len(d)))
	}
	if op.frozen == nil {
		return d
	}
	out := make([]bool, len(d))
	for i := range d {
		out[i] = d[i] && !op.frozen[i]
	}
	return out
}

// SymDiff implements gorgonia.SDOp: one bwdOp node per differentiable input.
func (op *fwdOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d := op.DiffWRT(len(inputs))
	ret := make(gorgonia.Nodes, len(inputs))
	args := append(append(gorgonia.Nodes(nil), inputs...), output, grad)
	for i := range inputs {
		if !d[i] {
			continue
		}
		b := &bwdOp{fwd: op, i: i, inShape: inputs[i].Shape().Clone()}
		n, err := gorgonia.ApplyOp(b, args...)
		if err != nil {
			return nil, fmt.Errorf("graph.%s: gradient of input %d: %w", op.k.name(), i, err)
		}
		ret[i] = n
	}
	return ret, nil
}

// bwdOp computes the gradient of input i of a fwdOp. Its inputs are the
// forward inputs, the forward output and the output gradient.
type bwdOp struct {
	fwd     *fwdOp
	i       int
	inShape tensor.Shape
	out     outBuf
}

func (op *bwdOp) Arity() int { return len(op.fwd.in) + 2 }
func (op *bwdOp) Type() hm.Type {
	out := typeOf(op.fwd.shape, op.fwd.dt)
	ts := append(append([]hm.Type(nil), op.fwd.in...), out, out, op.fwd.in[op.i])
	return hm.NewFnType(ts...)
}
func (op *bwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.inShape.Clone(), nil
}
func (op *bwdOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	n := len(op.fwd.in)
	if len(in) != n+2 {
		return nil, fmt.Errorf("graph.%s: gradient has %d inputs, want %d", op.fwd.k.name(), len(in), n+2)
	}
	if g, ok := op.fwd.k.(gradOwner); ok {
		dx := g.gradOf(op.i, in[:n], in[n], in[n+1])
		if op.out.d == nil || !sameBacking(op.out.d.Data(), dx) {
			op.out.d = tensor.New(tensor.WithShape(op.inShape...), tensor.WithBacking(dx))
		}
		return op.out.d, nil
	}
	d, dx := op.out.get(op.fwd.k, op.inShape, op.fwd.dt)
	op.fwd.k.backward(op.i, dx, in[:n], in[n], in[n+1])
	return finish(d, op.inShape), nil
}

// gradOwner is a kernel that computes several input gradients in one pass
// into buffers it owns (reused across runs): gradOf returns input i's
// gradient of the current run, which the gradient node passes on without
// a copy.
type gradOwner interface {
	gradOf(i int, in []gorgonia.Value, y, dy gorgonia.Value) float64Or32
}

// sameBacking reports whether two buffers start at the same element.
func sameBacking(a, b any) bool {
	switch x := a.(type) {
	case []float32:
		y, ok := b.([]float32)
		return ok && len(x) == len(y) && len(x) > 0 && &x[0] == &y[0]
	case []float64:
		y, ok := b.([]float64)
		return ok && len(x) == len(y) && len(x) > 0 && &x[0] == &y[0]
	}
	return false
}
func (op *bwdOp) ReturnsPtr() bool     { return false }
func (op *bwdOp) CallsExtern() bool    { return false }
func (op *bwdOp) OverwritesInput() int { return -1 }
func (op *bwdOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "fovea.grad%d.%s", op.i, op.fwd.k.name())
}
func (op *bwdOp) Hashcode() uint32 { return hashOf(op) }
func (op *bwdOp) String() string   { return fmt.Sprintf("∂%s/∂x%d", op.fwd.k.name(), op.i) }

var (
	_ gorgonia.SDOp = (*fwdOp)(nil)
	_ gorgonia.Op   = (*bwdOp)(nil)
)
