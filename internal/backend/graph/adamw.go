package graph

import (
	"fmt"
	"math"

	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// Default AdamW hyper-parameters (PyTorch's torch.optim.AdamW).
const (
	DefaultBeta1       = 0.9
	DefaultBeta2       = 0.999
	DefaultEps         = 1e-8
	DefaultWeightDecay = 0.01
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), as
// torch.optim.AdamW: per step t, for each parameter p with gradient g,
//
//	p ← p − lr·wd·p
//	m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	p ← p − lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + eps)
//
// It replaces gorgonia's NewAdamW, which leaves the weights unchanged. The
// moments are kept per *tensor.Tensor in float32.
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64

	t    int
	m, v map[*ft.Tensor][]float32
}

// NewAdamW returns an AdamW with PyTorch's default betas and eps.
func NewAdamW(lr, weightDecay float64) *AdamW {
	return &AdamW{LR: lr, Beta1: DefaultBeta1, Beta2: DefaultBeta2, Eps: DefaultEps, WeightDecay: weightDecay}
}

// Steps is the number of updates made so far.
func (o *AdamW) Steps() int { return o.t }

// Step applies one update to every parameter, reading the gradients of
// the last Machine.Run. The parameters' tensors are updated in place; on a
// Float64 backend the node values are refreshed from them.
func (o *AdamW) Step(params []Param) error {
	grads := make([]*ft.Tensor, len(params))
	for i, p := range params {
		g, err := p.Grad()
		if err != nil {
			return fmt.Errorf("adamw: %w", err)
		}
		grads[i] = g
	}
	return o.Update(params, grads)
}

// Update applies one update with explicit gradients (grads[i] for params[i]).
func (o *AdamW) Update(params []Param, grads []*ft.Tensor) error {
	if len(grads) != len(params) {
		return fmt.Errorf("adamw: %d gradients for %d parameters", len(grads), len(params))
	}
	if o.m == nil {
		o.m, o.v = map[*ft.Tensor][]float32{}, map[*ft.Tensor][]float32{}
	}
	for i, p := range params {
		if grads[i].Len() != p.Tensor.Len() {
			return fmt.Errorf("adamw: gradient %v for parameter %v", grads[i].Shape, p.Tensor.Shape)
		}
	}
	o.t++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.t))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.t))
	for i, p := range params {
		w := p.Tensor.Data
		m, ok := o.m[p.Tensor]
		if !ok {
			m, o.v[p.Tensor] = make([]float32, len(w)), make([]float32, len(w))
			o.m[p.Tensor] = m
		}
		v := o.v[p.Tensor]
		for j, gj := range grads[i].Data {
			g := float64(gj)
			x := float64(w[j]) * (1 - o.LR*o.WeightDecay)
			mj := o.Beta1*float64(m[j]) + (1-o.Beta1)*g
			vj := o.Beta2*float64(v[j]) + (1-o.Beta2)*g*g
			m[j], v[j] = float32(mj), float32(vj)
			x -= o.LR * (mj / bc1) / (math.Sqrt(vj/bc2) + o.Eps)
			w[j] = float32(x)
		}
		if p.Node != nil && p.Node.Value() != nil {
			if d, ok := p.Node.Value().Data().([]float64); ok {
				for j, x := range w {
					d[j] = float64(x)
				}
			}
		}
	}
	return nil
}
