package graph

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/blas"
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
	// MaxGradNorm > 0 makes Step clip the gradients to this global L2
	// norm first (torch.nn.utils.clip_grad_norm_); 0 leaves them as they are.
	MaxGradNorm float64

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
// the last Machine.Run in place (no copies in float32). The parameters'
// tensors are updated in place; on a Float64 backend the node values are
// refreshed from them. With MaxGradNorm > 0 the gradients are first
// scaled to that global norm (ClipGradNorm), folded into the update.
func (o *AdamW) Step(params []Param) error {
	grads := make([][]float32, len(params))
	for i, p := range params {
		g, err := p.Node.Grad()
		if err != nil {
			return fmt.Errorf("adamw: gradient of %s: %w", p.Node.Name(), err)
		}
		switch d := g.Data().(type) {
		case []float32:
			grads[i] = d
		default:
			t, err := p.Grad()
			if err != nil {
				return fmt.Errorf("adamw: %w", err)
			}
			grads[i] = t.Data
		}
	}
	scale := float32(1)
	if o.MaxGradNorm > 0 {
		if n := GradNorm(grads); n > o.MaxGradNorm {
			scale = float32(o.MaxGradNorm / (n + clipEps))
		}
	}
	return o.update(params, grads, scale)
}

// clipEps keeps the clipping scale finite for a zero norm (torch's
// clip_grad_norm_ uses the same 1e-6).
const clipEps = 1e-6

// Update applies one update with explicit gradients (grads[i] for params[i]).
func (o *AdamW) Update(params []Param, grads []*ft.Tensor) error {
	if len(grads) != len(params) {
		return fmt.Errorf("adamw: %d gradients for %d parameters", len(grads), len(params))
	}
	gs := make([][]float32, len(grads))
	for i, g := range grads {
		if g == nil {
			return fmt.Errorf("adamw: no gradient for parameter %d", i)
		}
		gs[i] = g.Data
	}
	return o.update(params, gs, 1)
}

// chunkAdam is the element count of one parallel task of the optimizer.
const chunkAdam = 1 << 14

func (o *AdamW) update(params []Param, grads [][]float32, gscale float32) error {
	if len(grads) != len(params) {
		return fmt.Errorf("adamw: %d gradients for %d parameters", len(grads), len(params))
	}
	if o.m == nil {
		o.m, o.v = map[*ft.Tensor][]float32{}, map[*ft.Tensor][]float32{}
	}
	for i, p := range params {
		if len(grads[i]) != p.Tensor.Len() {
			return fmt.Errorf("adamw: gradient of %d values for parameter %v", len(grads[i]), p.Tensor.Shape)
		}
	}
	o.t++
	c := o.coef(gscale)
	// One task list over every parameter: chunks of chunkAdam elements.
	type task struct{ p, lo, hi int }
	var tasks []task
	ms, vs := make([][]float32, len(params)), make([][]float32, len(params))
	for i, p := range params {
		w := p.Tensor.Data
		m, ok := o.m[p.Tensor]
		if !ok {
			m, o.v[p.Tensor] = make([]float32, len(w)), make([]float32, len(w))
			o.m[p.Tensor] = m
		}
		ms[i], vs[i] = m, o.v[p.Tensor]
		for lo := 0; lo < len(w); lo += chunkAdam {
			tasks = append(tasks, task{i, lo, min(len(w), lo+chunkAdam)})
		}
	}
	blas.ParallelItems(len(tasks), workers(len(tasks)), func(_, it int) {
		t := tasks[it]
		w := params[t.p].Tensor.Data
		blas.AdamW(w[t.lo:t.hi], grads[t.p][t.lo:t.hi], ms[t.p][t.lo:t.hi], vs[t.p][t.lo:t.hi], c)
	})
	for _, p := range params {
		if p.Node != nil && p.Node.Value() != nil {
			if d, ok := p.Node.Value().Data().([]float64); ok {
				for j, x := range p.Tensor.Data {
					d[j] = float64(x)
				}
			}
		}
	}
	return nil
}

// coef returns step o.t's constants; gscale multiplies every gradient.
func (o *AdamW) coef(gscale float32) *blas.AdamWCoef {
	bc1 := 1 - math.Pow(o.Beta1, float64(o.t))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.t))
	return &blas.AdamWCoef{
		Decay: float32(1 - o.LR*o.WeightDecay),
		B1:    float32(o.Beta1), C1: float32(1 - o.Beta1),
		B2: float32(o.Beta2), C2: float32(1 - o.Beta2),
		LR:     float32(o.LR / bc1),
		RBC2:   float32(1 / math.Sqrt(bc2)),
		Eps:    float32(o.Eps),
		GScale: gscale,
	}
}

// adamwStepRef is the update in float64 from the hyper-parameters, as
// torch.optim.AdamW writes it
// (the moments rounded to float32 between steps).
func adamwStepRef(w, g, m, v []float32, lr, beta1, beta2, eps, wd float64, t int, gscale float64) {
	bc1 := 1 - math.Pow(beta1, float64(t))
	bc2 := 1 - math.Pow(beta2, float64(t))
	for j, gj := range g {
		gv := float64(gj) * gscale
		x := float64(w[j]) * (1 - lr*wd)
		mj := beta1*float64(m[j]) + (1-beta1)*gv
		vj := beta2*float64(v[j]) + (1-beta2)*gv*gv
		m[j], v[j] = float32(mj), float32(vj)
		x -= lr * (mj / bc1) / (math.Sqrt(vj/bc2) + eps)
		w[j] = float32(x)
	}
}

// GradNorm is the global L2 norm of all gradients together (as
// torch.nn.utils.clip_grad_norm_ measures it), summed in float64 over
// threaded chunks of blas.Sdot.
func GradNorm(grads [][]float32) float64 {
	type task struct{ g, lo, hi int }
	var tasks []task
	for i, g := range grads {
		for lo := 0; lo < len(g); lo += chunkAdam {
			tasks = append(tasks, task{i, lo, min(len(g), lo+chunkAdam)})
		}
	}
	part := make([]float64, len(tasks))
	blas.ParallelItems(len(tasks), workers(len(tasks)), func(_, it int) {
		t := tasks[it]
		s := grads[t.g][t.lo:t.hi]
		part[it] = float64(blas.Sdot(len(s), s, s))
	})
	var sum float64
	for _, p := range part {
		sum += p
	}
	return math.Sqrt(sum)
}

// ClipGradNorm scales the gradients of the last Run in place so that
// their global L2 norm is at most maxNorm (torch's clip_grad_norm_: scale
// maxNorm/(norm + 1e-6) when norm > maxNorm) and returns the norm before
// clipping. AdamW.MaxGradNorm does the same inside Step without touching
// the gradients.
func ClipGradNorm(params []Param, maxNorm float64) (float64, error) {
	grads := make([][]float32, len(params))
	var f64 [][]float64
	for i, p := range params {
		g, err := p.Node.Grad()
		if err != nil {
			return 0, fmt.Errorf("graph.ClipGradNorm: gradient of %s: %w", p.Node.Name(), err)
		}
		switch d := g.Data().(type) {
		case []float32:
			grads[i] = d
		case []float64:
			f64 = append(f64, d)
		default:
			return 0, fmt.Errorf("graph.ClipGradNorm: gradient of %s is %T", p.Node.Name(), d)
		}
	}
	norm2 := 0.0
	if n := GradNorm(grads); n > 0 {
		norm2 = n * n
	}
	for _, d := range f64 {
		for _, x := range d {
			norm2 += x * x
		}
	}
	norm := math.Sqrt(norm2)
	if maxNorm <= 0 || norm <= maxNorm {
		return norm, nil
	}
	s := maxNorm / (norm + clipEps)
	for _, g := range grads {
		if g != nil {
			blas.Scale(float32(s), g)
		}
	}
	for _, d := range f64 {
		for j := range d {
			d[j] *= s
		}
	}
	return norm, nil
}
