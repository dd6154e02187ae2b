package graph

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
)

// Replicas is data parallelism over one compiled training graph: N
// replicas of the same graph, each its own Backend and Machine with
// single-threaded kernels, bind the same weight tensors (read-only during
// Run) and compute the gradients of their shard of the batch side by
// side; Run then sums the gradients, weighted by each shard's share of
// the loss, into replica 0's gradient buffers. Params returns replica 0's
// parameters, so AdamW.Step, GradNorm and ClipGradNorm read the summed
// gradients unchanged.
//
// On a small model every op of a training step is too short to split
// over threads without the fork-join waits eating the gain; splitting the
// batch instead keeps each thread busy for a whole forward and backward
// pass, with one synchronisation per step.
//
// The result does not depend on GOMAXPROCS or on scheduling: each replica
// runs on one thread, and the reduction adds shard s's gradient after
// shard s−1's, element by element, whatever the thread that does it.
type Replicas struct {
	bes    []*Backend
	ms     []*Machine
	losses []*gorgonia.Node
	params [][]Param // per replica, in the same order
	// fixed are the shard weights set with SetWeights (nil: counted).
	fixed   []float64
	weights []float64 // of the last Run
	loss    float64   // of the last Run
	share   *packShare
	// scale[s] is shard s's weight, read by its weighted-loss node
	// (shardWeightK) during Run, so that the shard's gradients come out
	// weighted and the reduction is a plain sum.
	scale []*float64
}

// BuildShard builds shard s's forward pass on be (a fresh Backend) and
// returns its scalar loss. It is called once per replica, s = 0..N−1, in
// order; every call must create the same trainable weights in the same
// order (the same layer code on the shard's rows).
type BuildShard func(be *Backend, shard int) (loss backend.Value, err error)

// NewReplicas builds n replicas (n ≥ 1) with build, adds their
// gradients (Backward) and compiles them. opt is every replica's
// Backend options; Threads 0 becomes 1, so that the replicas, not the
// kernels, share the cores.
func NewReplicas(n int, opt Options, build BuildShard) (*Replicas, error) {
	if n < 1 {
		return nil, fmt.Errorf("graph.NewReplicas: %d replicas, want at least 1", n)
	}
	if build == nil {
		return nil, errors.New("graph.NewReplicas: no build function")
	}
	if opt.Threads == 0 {
		opt.Threads = 1
	}
	r := &Replicas{share: newPackShare()}
	for s := range n {
		be := New(opt)
		if !opt.Float64 {
			be.th.share = r.share
		}
		loss, err := build(be, s)
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("graph.NewReplicas: shard %d: %w", s, err)
		}
		w := new(float64)
		weighted := apply(shardWeightK{w: w}, be.dt, be.Node(loss))
		if len(be.Params()) > 0 { // nothing trains: a forward-only set (evaluation)
			if err := be.Backward(weighted); err != nil {
				_ = r.Close()
				return nil, fmt.Errorf("graph.NewReplicas: shard %d: %w", s, err)
			}
		}
		ps := be.Params()
		if s > 0 {
			if err := sameParams(r.params[0], ps); err != nil {
				_ = r.Close()
				return nil, fmt.Errorf("graph.NewReplicas: shard %d: %w", s, err)
			}
		}
		m, err := be.Compile()
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("graph.NewReplicas: shard %d: %w", s, err)
		}
		r.bes, r.ms = append(r.bes, be), append(r.ms, m)
		r.losses = append(r.losses, be.Node(loss))
		r.params = append(r.params, ps)
		r.scale = append(r.scale, w)
	}
	return r, nil
}

// sameParams checks that a replica has the same trainable tensors, in the
// same order, as replica 0.
func sameParams(p0, ps []Param) error {
	if len(ps) != len(p0) {
		return fmt.Errorf("%d trainable parameters, replica 0 has %d", len(ps), len(p0))
	}
	for i := range ps {
		if ps[i].Tensor != p0[i].Tensor {
			return fmt.Errorf("trainable parameter %d %v is not replica 0's (%v)", i, ps[i].Tensor.Shape, p0[i].Tensor.Shape)
		}
	}
	return nil
}

// N is the number of replicas.
func (r *Replicas) N() int { return len(r.bes) }

// Backend returns shard s's Backend, to rebind its inputs (SetIDs,
// SetTargets, SetConst) before a Run and to Read its values after one.
func (r *Replicas) Backend(s int) *Backend { return r.bes[s] }

// Params returns the trainable parameters; after Run their gradients
// (Param.Grad, AdamW.Step, GradNorm, ClipGradNorm) are the summed ones.
func (r *Replicas) Params() []Param { return r.bes[0].Params() }

// SetWeights fixes the weight of each shard's gradient and loss in the
// sum (w[s] for shard s), for a loss that is not a CrossEntropy node; nil
// goes back to counting targets.
func (r *Replicas) SetWeights(w []float64) error {
	if w == nil {
		r.fixed = nil
		return nil
	}
	if len(w) != r.N() {
		return fmt.Errorf("graph.Replicas.SetWeights: %d weights for %d replicas", len(w), r.N())
	}
	for s, x := range w {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("graph.Replicas.SetWeights: weight %d is %v", s, x)
		}
	}
	r.fixed = append([]float64(nil), w...)
	return nil
}

// Weights returns the shard weights of the last Run.
func (r *Replicas) Weights() []float64 { return append([]float64(nil), r.weights...) }

// Loss returns the loss of the whole batch from the last Run: the
// weighted sum of the shards' losses (summed in shard order).
func (r *Replicas) Loss() float64 { return r.loss }

// shardWeights returns each shard's weight: its share of the batch's
// non-ignored targets when every loss is a CrossEntropy (the mean over
// the whole batch is then Σ_s (n_s/N)·mean_s), else the SetWeights ones.
func (r *Replicas) shardWeights() ([]float64, error) {
	if r.fixed != nil {
		return r.fixed, nil
	}
	counts := make([]int, r.N())
	total := 0
	for s, be := range r.bes {
		f, ok := be.feeds[r.losses[s]]
		if !ok || f.embedding {
			return nil, fmt.Errorf("graph.Replicas: the loss of shard %d is not a CrossEntropy node: call SetWeights", s)
		}
		for _, t := range ints(f.ids.Value()) {
			if t != f.ignore {
				counts[s]++
			}
		}
		total += counts[s]
	}
	w := make([]float64, r.N())
	for s, c := range counts {
		if total > 0 {
			w[s] = float64(c) / float64(total)
		}
	}
	return w, nil
}

// Run runs every replica once, side by side (shard 0 on the calling
// goroutine; with GOMAXPROCS 1 one after the other), then sums the
// gradients into replica 0's buffers:
// g = Σ_s w_s·g_s in shard order. The context is checked before the run
// starts.
func (r *Replicas) Run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w, err := r.shardWeights()
	if err != nil {
		return err
	}
	for s, x := range w {
		*r.scale[s] = x
	}
	r.syncFloat64()
	errs := make([]error, r.N())
	if runtime.GOMAXPROCS(0) == 1 {
		// One thread: the shards one after the other, each with its
		// working set in cache (interleaved goroutines would be preempted
		// every 10 ms and evict each other's).
		for s, m := range r.ms {
			errs[s] = m.Run(ctx)
		}
	} else {
		var wg sync.WaitGroup
		for s := 1; s < r.N(); s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[s] = r.ms[s].Run(ctx)
			}()
		}
		errs[0] = r.ms[0].Run(ctx)
		wg.Wait()
	}
	for s, err := range errs {
		if err != nil {
			return fmt.Errorf("graph.Replicas: shard %d: %w", s, err)
		}
	}
	loss := 0.0
	for s, be := range r.bes {
		l, err := be.Read(r.losses[s])
		if err != nil {
			return fmt.Errorf("graph.Replicas: loss of shard %d: %w", s, err)
		}
		loss += w[s] * float64(l.Data[0])
	}
	if err := r.reduce(); err != nil {
		return err
	}
	r.weights, r.loss = append(r.weights[:0], w...), loss
	return nil
}

// syncFloat64 copies the parameters into the float64 node values of
// replicas 1..N−1: AdamW writes back replica 0's only (in float32 every
// replica's node shares the tensor's Data).
func (r *Replicas) syncFloat64() {
	for _, ps := range r.params[1:] {
		for _, p := range ps {
			if d, ok := p.Node.Value().Data().([]float64); ok {
				for j, x := range p.Tensor.Data {
					d[j] = float64(x)
				}
			}
		}
	}
}

// chunkReduce is the element count of one parallel task of the reduction.
const chunkReduce = 1 << 14

// reduce adds the (already weighted) gradients of replicas 1..N−1 to
// replica 0's, tasks of chunkReduce elements spread over the threads.
// Each element is g_0 + g_1, then + g_2, and so on in shard order,
// whichever thread runs its task.
func (r *Replicas) reduce() error {
	if r.N() == 1 {
		return nil
	}
	np := len(r.params[0])
	g32 := make([][][]float32, np) // [param][shard]
	g64 := make([][][]float64, np)
	type task struct{ p, lo, hi int }
	var tasks []task
	for i := range np {
		n := 0
		for s := range r.N() {
			g, err := r.params[s][i].Node.Grad()
			if err != nil {
				return fmt.Errorf("graph.Replicas: gradient of %s in shard %d: %w", r.params[s][i].Node.Name(), s, err)
			}
			switch d := g.Data().(type) {
			case []float32:
				g32[i], n = append(g32[i], d), len(d)
			case []float64:
				g64[i], n = append(g64[i], d), len(d)
			default:
				return fmt.Errorf("graph.Replicas: gradient of %s is %T", r.params[s][i].Node.Name(), d)
			}
			if n != r.params[0][i].Tensor.Len() {
				return fmt.Errorf("graph.Replicas: gradient of %d values for parameter %v in shard %d", n, r.params[0][i].Tensor.Shape, s)
			}
		}
		for lo := 0; lo < n; lo += chunkReduce {
			tasks = append(tasks, task{i, lo, min(n, lo+chunkReduce)})
		}
	}
	blas.ParallelItems(len(tasks), workers(len(tasks)), func(_, it int) {
		t := tasks[it]
		if gs := g32[t.p]; gs != nil {
			reduce32(gs, t.lo, t.hi)
		} else {
			reduceRef(g64[t.p], t.lo, t.hi)
		}
	})
	return nil
}

// reduce32 is reduceRef on blas's vector kernel (one Saxpy per shard).
func reduce32(gs [][]float32, lo, hi int) {
	dst := gs[0][lo:hi]
	for s := 1; s < len(gs); s++ {
		blas.Saxpy(hi-lo, 1, gs[s][lo:hi], dst)
	}
}

// reduceRef adds gs[1..][lo:hi] to gs[0][lo:hi], one shard after the
// other: the plain twin of reduce32 and the float64 reduction.
func reduceRef[F float](gs [][]F, lo, hi int) {
	dst := gs[0]
	for s := 1; s < len(gs); s++ {
		for j, v := range gs[s][lo:hi] {
			dst[lo+j] += v
		}
	}
}

// shardWeightK is y = w·x for a scalar loss x, w read at run time (the
// shard weight Replicas.Run sets): the shard's loss as a share of the
// batch's, so every gradient of the shard comes out weighted.
type shardWeightK struct{ w *float64 }

func (shardWeightK) name() string { return "ShardWeight" } // one per graph
func (shardWeightK) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if in[0].TotalSize() != 1 {
		return nil, fmt.Errorf("loss of shape %v, want a scalar", in[0])
	}
	return in[0].Clone(), nil
}
func (shardWeightK) diffWRT() []bool  { return []bool{true} }
func (shardWeightK) overwrites() bool { return true }
func (k shardWeightK) forward(out float64Or32, in []gorgonia.Value) {
	if is64(out) {
		scaleFwd(buf[float64](out), data[float64](in[0]), *k.w)
	} else {
		scaleFwd(buf[float32](out), data[float32](in[0]), float32(*k.w))
	}
}
func (k shardWeightK) backward(_ int, dx float64Or32, _ []gorgonia.Value, _, dy gorgonia.Value) {
	k.forward(dx, []gorgonia.Value{dy})
}

// RefreshFrozen drops every replica's packed frozen weights
// (Backend.RefreshFrozen): call it after changing a frozen tensor in place.
func (r *Replicas) RefreshFrozen() {
	for _, be := range r.bes {
		be.RefreshFrozen()
	}
}

// Close releases every replica's machine.
func (r *Replicas) Close() error {
	var errs []error
	for _, m := range r.ms {
		errs = append(errs, m.Close())
	}
	r.ms = nil
	return errors.Join(errs...)
}
