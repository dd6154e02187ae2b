package vision

import (
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Linear is a dense layer with a bias (nn.Linear): y = x·Wᵀ + b.
// Weight is [Out, In], Bias [Out].
type Linear struct {
	Weight *Tensor `weight:"weight"`
	Bias   *Tensor `weight:"bias"`
}

// NewLinear allocates an in→out Linear with a bias.
func NewLinear(in, out int) Linear {
	return Linear{Weight: tensor.New(out, in), Bias: tensor.New(out)}
}

// Forward maps x [..., In] to [..., Out].
func (l *Linear) Forward(b Backend, x Value) Value {
	return b.Linear(x, b.Weight(l.Weight), b.Weight(l.Bias))
}

// LayerNorm is nn.LayerNorm over the last dim with an affine weight and bias.
type LayerNorm struct {
	Weight *Tensor `weight:"weight"`
	Bias   *Tensor `weight:"bias"`
	eps    float32
}

// NewLayerNorm allocates a LayerNorm of width d.
func NewLayerNorm(d int, eps float32) LayerNorm {
	return LayerNorm{Weight: tensor.New(d), Bias: tensor.New(d), eps: eps}
}

// Forward normalises x [..., D] → [..., D].
func (n *LayerNorm) Forward(b Backend, x Value) Value {
	return b.LayerNorm(x, b.Weight(n.Weight), b.Weight(n.Bias), n.eps)
}
