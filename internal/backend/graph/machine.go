package graph

import (
	"context"
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/fovea-ml/fovea/internal/backend"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// Backward adds the symbolic gradient of the scalar loss with respect to
// every trainable parameter to the graph. Call it once, after building
// the forward pass and before Compile; afterwards Param.Grad reads the
// gradients of the last Run.
func (b *Backend) Backward(loss backend.Value) error {
	if b.grads {
		return fmt.Errorf("graph.Backward: gradients already added")
	}
	if len(b.params) == 0 {
		return fmt.Errorf("graph.Backward: no trainable parameters")
	}
	wrt := make(gorgonia.Nodes, len(b.params))
	for i, p := range b.params {
		wrt[i] = p.Node
	}
	if err := b.markFrozen(wrt); err != nil {
		return fmt.Errorf("graph.Backward: %w", err)
	}
	if _, err := gorgonia.Grad(b.Node(loss), wrt...); err != nil {
		return fmt.Errorf("graph.Backward: %w", err)
	}
	b.grads = true
	return nil
}

// markFrozen tells every custom op which of its inputs no parameter in
// wrt influences, so that differentiation adds no gradient node for them:
// a frozen decoder's Linear computes its input gradient only, never dW.
func (b *Backend) markFrozen(wrt gorgonia.Nodes) error {
	sorted, err := gorgonia.Sort(b.g) // outputs first
	if err != nil {
		return err
	}
	live := make(map[*gorgonia.Node]bool, len(sorted))
	for _, n := range wrt {
		live[n] = true
	}
	for i := len(sorted) - 1; i >= 0; i-- { // inputs first
		n := sorted[i]
		if live[n] {
			continue
		}
		for it := b.g.From(n.ID()); it.Next(); {
			if c, ok := it.Node().(*gorgonia.Node); ok && live[c] {
				live[n] = true
				break
			}
		}
	}
	for _, n := range sorted {
		op, ok := n.Op().(*fwdOp)
		if !ok {
			continue
		}
		op.frozen = make([]bool, len(op.inputs))
		for i, in := range op.inputs {
			op.frozen[i] = !live[in]
		}
		if fa, ok := op.k.(frozenAware); ok {
			fa.setFrozen(op.frozen)
		}
	}
	return nil
}

// Machine runs a compiled graph. Graph shapes are static, so compile one
// Machine per (batch, length) bucket and reuse it for every step of that
// shape, rebinding inputs with SetConst / SetIDs / SetTargets.
type Machine struct {
	vm  gorgonia.VM
	ran bool
}

// Compile compiles the graph as it stands into a TapeMachine.
func (b *Backend) Compile() (*Machine, error) {
	b.markUnusedSlices()
	vm := gorgonia.NewTapeMachine(b.g)
	return &Machine{vm: vm}, nil
}

// Run executes the whole graph once (forward and, after Backward, the
// gradients). The context is checked before the run starts.
func (m *Machine) Run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.ran {
		m.vm.Reset()
	}
	m.ran = true
	if err := m.vm.RunAll(); err != nil {
		return fmt.Errorf("graph: run: %w", err)
	}
	return nil
}

// Close releases the machine's resources.
func (m *Machine) Close() error { return m.vm.Close() }

// Read returns the value of v after a Run, converted to float32 (a copy).
// A scalar comes back with shape [].
func (b *Backend) Read(v backend.Value) (*ft.Tensor, error) {
	n := b.Node(v)
	if val, ok := skippedSlice(n); ok {
		return readNode(val, b.Shape(v))
	}
	return readNode(n.Value(), b.Shape(v))
}

func readNode(val gorgonia.Value, shape []int) (*ft.Tensor, error) {
	if val == nil {
		return nil, fmt.Errorf("graph.Read: node has no value (not run yet?)")
	}
	out := ft.New(shape...)
	switch d := val.Data().(type) {
	case []float32:
		copy(out.Data, d)
	case []float64:
		for i, x := range d {
			out.Data[i] = float32(x)
		}
	case float32:
		out.Data[0] = d
	case float64:
		out.Data[0] = float32(d)
	default:
		return nil, fmt.Errorf("graph.Read: value of type %T", d)
	}
	return out, nil
}

// ReadFloat64 returns the value of v after a Run as float64 (for gradient
// checks on a Float64 backend).
func (b *Backend) ReadFloat64(v backend.Value) ([]float64, error) {
	n := b.Node(v)
	val := n.Value()
	if s, ok := skippedSlice(n); ok {
		val = s
	}
	if val == nil {
		return nil, fmt.Errorf("graph.ReadFloat64: node has no value")
	}
	switch d := val.Data().(type) {
	case []float64:
		return append([]float64(nil), d...), nil
	case float64:
		return []float64{d}, nil
	}
	return nil, fmt.Errorf("graph.ReadFloat64: value of type %T", val.Data())
}

// Grad returns the gradient of the loss with respect to p from the last
// Run, as float32 with p.Tensor's shape.
func (p Param) Grad() (*ft.Tensor, error) {
	g, err := p.Node.Grad()
	if err != nil {
		return nil, fmt.Errorf("graph: gradient of %s: %w", p.Node.Name(), err)
	}
	return readNode(g, p.Tensor.Shape)
}
