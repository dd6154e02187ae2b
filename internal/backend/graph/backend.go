package graph

import (
	"fmt"
	"slices"
	"sync"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/blas"
	ft "github.com/fovea-ml/fovea/internal/tensor"
)

// Options configures a graph Backend.
type Options struct {
	// Float64 builds the graph in float64 (for gradient checks); the
	// default is float32, the training precision.
	Float64 bool
	// Trainable decides, once per weight tensor, whether Weight makes it a
	// learnable parameter. Nil means every weight is trainable. The Linear
	// ops pack a frozen weight once, on the first Run after Backward; after
	// changing a frozen tensor in place, call RefreshFrozen.
	Trainable func(*ft.Tensor) bool
	// Threads caps the goroutines each kernel of the graph uses: 0 means
	// runtime.GOMAXPROCS(0) at run time, 1 runs every kernel on the
	// calling goroutine (the replicas of Replicas run side by side so).
	// Results do not depend on it: every threaded kernel splits its work
	// into fixed tasks and sums partial results in task order.
	Threads int
}

// Param is one learnable weight: the checkpoint tensor and its graph node.
// In float32 mode the node's value shares Tensor.Data, so updating the
// tensor in place updates the graph.
type Param struct {
	Tensor *ft.Tensor
	Node   *gorgonia.Node
}

// Backend records backend.Backend operations as a gorgonia expression
// graph. It is not safe for concurrent use: one Backend (and graph) per
// goroutine.
type Backend struct {
	g         *gorgonia.ExprGraph
	dt        tensor.Dtype
	trainable func(*ft.Tensor) bool
	weights   map[*ft.Tensor]*gorgonia.Node
	params    []Param
	// feeds maps an Embedding output to its ids node, a CrossEntropy
	// output to its targets node, so later steps can rebind them.
	feeds  map[*gorgonia.Node]feed
	grads  bool
	nextID int
	// packs are the frozen-weight packings of the Linear ops (RefreshFrozen).
	packs []*frozenPack
	// th is the kernels' thread budget (Options.Threads).
	th *budget
}

var (
	_ backend.Backend         = (*Backend)(nil)
	_ backend.ResidualLinear  = (*Backend)(nil)
	_ backend.MergedAttention = (*Backend)(nil)
)

// New returns a Backend over a fresh expression graph.
// useFastBLAS installs internal/blas's assembly sgemm/sgemv as gorgonia's
// BLAS the first time a graph backend is made. gorgonia keeps its BLAS in
// a process-wide variable (gorgonia.Use), so this is the one place Fovea
// touches global state; it only ever sets the same value, and results are
// identical to gonum's within float32 rounding (internal/blas tests).
var useFastBLAS sync.Once

func New(opt Options) *Backend {
	useFastBLAS.Do(func() { gorgonia.Use(blas.GorgoniaBLAS{}) })
	dt := tensor.Float32
	if opt.Float64 {
		dt = tensor.Float64
	}
	return &Backend{
		g:         gorgonia.NewGraph(),
		dt:        dt,
		trainable: opt.Trainable,
		weights:   map[*ft.Tensor]*gorgonia.Node{},
		feeds:     map[*gorgonia.Node]feed{},
		th:        newBudget(opt.Threads),
	}
}

// Graph returns the underlying expression graph.
func (b *Backend) Graph() *gorgonia.ExprGraph { return b.g }

// Dtype is the graph's element type (Float32 or Float64).
func (b *Backend) Dtype() tensor.Dtype { return b.dt }

// Node unwraps a Value made by this backend.
func (b *Backend) Node(v backend.Value) *gorgonia.Node {
	n, ok := v.(*gorgonia.Node)
	if !ok || n == nil {
		panic(fmt.Sprintf("graph: %T is not a graph node", v))
	}
	return n
}

// Params returns the learnable weights in the order Weight first saw them.
func (b *Backend) Params() []Param { return slices.Clone(b.params) }

func (b *Backend) name(kind string) string {
	b.nextID++
	return fmt.Sprintf("%s%d", kind, b.nextID)
}

// dense wraps t as a gorgonia tensor of the graph's dtype: in float32 the
// data is shared, in float64 it is converted.
func (b *Backend) dense(t *ft.Tensor) *tensor.Dense {
	shape := t.Shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	if b.dt == tensor.Float32 {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(t.Data))
	}
	d := make([]float64, len(t.Data))
	for i, v := range t.Data {
		d[i] = float64(v)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

func (b *Backend) input(t *ft.Tensor, kind string) *gorgonia.Node {
	d := b.dense(t)
	return gorgonia.NewTensor(b.g, b.dt, d.Dims(), gorgonia.WithShape(d.Shape()...),
		gorgonia.WithName(b.name(kind)), gorgonia.WithValue(d))
}

// Weight returns the node of checkpoint tensor w, creating it on first
// use: tied weights (the same *Tensor) share one node.
func (b *Backend) Weight(w *ft.Tensor) backend.Value {
	if n, ok := b.weights[w]; ok {
		return n
	}
	n := b.input(w, "w")
	b.weights[w] = n
	if b.trainable == nil || b.trainable(w) {
		b.params = append(b.params, Param{Tensor: w, Node: n})
	}
	return n
}

// Const returns an input node holding t (activations, masks, inputs). Its
// value can be replaced between runs with SetConst.
func (b *Backend) Const(t *ft.Tensor) backend.Value { return b.input(t, "c") }

// SetConst copies t into the value of a node made by Const (same shape).
func (b *Backend) SetConst(v backend.Value, t *ft.Tensor) error {
	n := b.Node(v)
	if n.Op() != nil || n.Value() == nil {
		return fmt.Errorf("graph.SetConst: %v is not an input node", n.Name())
	}
	if !slices.Equal([]int(n.Shape()), t.Shape) {
		return fmt.Errorf("graph.SetConst: node %s has shape %v, tensor %v", n.Name(), []int(n.Shape()), t.Shape)
	}
	switch d := n.Value().Data().(type) {
	case []float32:
		copy(d, t.Data)
	case []float64:
		for i, x := range t.Data {
			d[i] = float64(x)
		}
	}
	return nil
}

// Shape returns the static shape of v.
func (b *Backend) Shape(v backend.Value) []int {
	s := b.Node(v).Shape()
	if s.IsScalar() {
		return []int{}
	}
	return []int(s)
}

// must returns a checker that panics, naming op, when a gorgonia
// builder fails (a shape error in layer code).
func must(op string) func(*gorgonia.Node, error) *gorgonia.Node {
	return func(n *gorgonia.Node, err error) *gorgonia.Node {
		if err != nil {
			panic(fmt.Sprintf("graph.%s: %v", op, err))
		}
		return n
	}
}

// Linear: x [..., In] · wᵀ [In, Out] + b → [..., Out], one custom op
// whose forward and backward are single sgemm calls (linear.go).
func (b *Backend) Linear(x, w, bias backend.Value) backend.Value { return b.linear(x, w, bias, nil) }

// LinearAdd is res + x·wᵀ + b in one op (backend.ResidualLinear): the
// product starts from the residual, and the residual's gradient is dy.
func (b *Backend) LinearAdd(x, w, bias, res backend.Value) backend.Value {
	return b.linear(x, w, bias, res)
}

// MatMul: a [..., M, K] · b [..., K, N] (b [..., N, K] with transB) → [..., M, N],
// one custom op over the flattened batch dims (linear.go).
func (b *Backend) MatMul(a, bv backend.Value, transB bool) backend.Value {
	as, bs := b.Shape(a), b.Shape(bv)
	nd := len(as)
	if nd < 2 || len(bs) != nd || !slices.Equal(as[:nd-2], bs[:nd-2]) {
		panic(fmt.Sprintf("graph.MatMul: a %v, b %v", as, bs))
	}
	k, kb := as[nd-1], bs[nd-2]
	if transB {
		kb = bs[nd-1]
	}
	if kb != k {
		panic(fmt.Sprintf("graph.MatMul: a %v, b %v (transB=%v)", as, bs, transB))
	}
	return apply(matmulK{transB: transB, th: b.th}, b.dt, b.Node(a), b.Node(bv))
}

func (b *Backend) binary(a, c backend.Value, mul bool) backend.Value {
	an, cn := b.Node(a), b.Node(c)
	if an.Shape().Eq(cn.Shape()) && !an.IsScalar() {
		if mul {
			return must("Mul")(gorgonia.HadamardProd(an, cn))
		}
		return must("Add")(gorgonia.Add(an, cn))
	}
	k, err := newBcastK(mul, tensor.Shape(b.Shape(a)), tensor.Shape(b.Shape(c)))
	if err != nil {
		panic(fmt.Sprintf("graph.Add/Mul: %v", err))
	}
	return apply(k, b.dt, an, cn)
}

// Add is elementwise a + c with NumPy broadcasting.
func (b *Backend) Add(a, c backend.Value) backend.Value { return b.binary(a, c, false) }

// Mul is elementwise a · c with NumPy broadcasting.
func (b *Backend) Mul(a, c backend.Value) backend.Value { return b.binary(a, c, true) }

// Scale multiplies by s.
func (b *Backend) Scale(x backend.Value, s float32) backend.Value {
	return apply(scaleK{s: s}, b.dt, b.Node(x))
}

// RMSNorm over the last dim (custom op; same row kernel as Eager).
func (b *Backend) RMSNorm(x, w backend.Value, eps float32) backend.Value {
	return apply(rmsNormK{eps: eps, th: b.th}, b.dt, b.Node(x), b.Node(b.flat(w)))
}

// LayerNorm over the last dim (custom op; same row kernel as Eager).
func (b *Backend) LayerNorm(x, w, bias backend.Value, eps float32) backend.Value {
	if bias == nil {
		return apply(layerNormK{eps: eps}, b.dt, b.Node(x), b.Node(b.flat(w)))
	}
	return apply(layerNormK{eps: eps, hasBias: true}, b.dt, b.Node(x), b.Node(b.flat(w)), b.Node(b.flat(bias)))
}

// flat reshapes a parameter to 1-D.
func (b *Backend) flat(v backend.Value) backend.Value {
	return b.Reshape(v, ft.Numel(b.Shape(v)))
}

// Activation applies act (custom op; same formulas as Eager).
func (b *Backend) Activation(x backend.Value, act backend.Act) backend.Value {
	if act == backend.ActIdentity {
		return x
	}
	return apply(actK{act: act, th: b.th}, b.dt, b.Node(x))
}

// Softmax over the last dim (custom op: gorgonia's last-axis SoftMax is broken).
func (b *Backend) Softmax(x backend.Value) backend.Value {
	return apply(softmaxK{}, b.dt, b.Node(x))
}

// Reshape to shape (one dim may be -1).
func (b *Backend) Reshape(x backend.Value, shape ...int) backend.Value {
	n := b.Node(x)
	size := n.Shape().TotalSize()
	s := slices.Clone(shape)
	infer, known := -1, 1
	for i, d := range s {
		if d == -1 {
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 && known > 0 {
		s[infer] = size / known
	}
	if ft.Numel(s) != size {
		panic(fmt.Sprintf("graph.Reshape: %v to %v", n.Shape(), shape))
	}
	if slices.Equal([]int(n.Shape()), s) {
		return n
	}
	return must("Reshape")(gorgonia.Reshape(n, s))
}

// Transpose permutes dims: out.Shape[i] = x.Shape[perm[i]].
func (b *Backend) Transpose(x backend.Value, perm ...int) backend.Value {
	identity := true
	for i, p := range perm {
		identity = identity && p == i
	}
	if identity && len(perm) == len(b.Shape(x)) {
		return x
	}
	return b.permute(x, perm) // one strided copy (permute.go)
}

// Slice keeps [start, end) along axis.
func (b *Backend) Slice(x backend.Value, axis, start, end int) backend.Value {
	xs := b.Shape(x)
	if axis < 0 {
		axis += len(xs)
	}
	if axis < 0 || axis >= len(xs) || start < 0 || end > xs[axis] || start >= end {
		panic(fmt.Sprintf("graph.Slice: axis %d [%d:%d] of %v", axis, start, end, xs))
	}
	if start == 0 && end == xs[axis] {
		return x
	}
	sl := make([]tensor.Slice, len(xs))
	sl[axis] = gorgonia.S(start, end)
	y := must("Slice")(gorgonia.Slice(b.Node(x), sl...))
	want := slices.Clone(xs)
	want[axis] = end - start
	return b.Reshape(y, want...) // gorgonia drops a length-1 axis
}

// Concat joins xs along axis.
func (b *Backend) Concat(axis int, xs ...backend.Value) backend.Value {
	if len(xs) == 0 {
		panic("graph.Concat: nothing to concatenate")
	}
	if len(xs) == 1 {
		return xs[0]
	}
	if axis < 0 {
		axis += len(b.Shape(xs[0]))
	}
	nodes := make([]*gorgonia.Node, len(xs))
	for i, v := range xs {
		nodes[i] = b.Node(v)
	}
	return apply(concatK{axis: axis, n: len(xs)}, b.dt, nodes...) // concat.go
}

// Embedding gathers rows of table [V, D] → [len(ids), D] (a custom op;
// its gradient scatter-adds into an owned buffer). SetIDs rebinds the ids.
func (b *Backend) Embedding(table backend.Value, ids []int) backend.Value {
	ts := b.Shape(table)
	if len(ts) != 2 {
		panic(fmt.Sprintf("graph.Embedding: table %v", ts))
	}
	if err := checkIDs(ids, ts[0], -1); err != nil {
		panic("graph.Embedding: " + err.Error())
	}
	idn := gorgonia.NewTensor(b.g, tensor.Int, 1, gorgonia.WithShape(len(ids)), gorgonia.WithName(b.name("ids")),
		gorgonia.WithValue(tensor.New(tensor.WithShape(len(ids)), tensor.WithBacking(slices.Clone(ids)))))
	y := apply(gatherK{}, b.dt, b.Node(table), idn) // [N, D] (embed.go)
	b.feeds[y] = feed{ids: idn, n: ts[0], ignore: -1, embedding: true}
	return y
}

// checkIDs reports the first id outside [0, n) other than ignore.
func checkIDs(ids []int, n, ignore int) error {
	for i, id := range ids {
		if id != ignore && (id < 0 || id >= n) {
			return fmt.Errorf("id %d at %d outside [0, %d)", id, i, n)
		}
	}
	return nil
}

// feed is the integer input behind an Embedding or CrossEntropy output:
// ids must lie in [0, n) or equal ignore.
type feed struct {
	ids    *gorgonia.Node
	n      int
	ignore int
	// embedding marks an Embedding output (EmbeddingsOf lists those),
	// as against GatherRows and CrossEntropy feeds.
	embedding bool
}

// SetIDs replaces the ids of an Embedding output (same count).
func (b *Backend) SetIDs(emb backend.Value, ids []int) error {
	return b.setFeed("SetIDs", emb, ids)
}

// SetTargets replaces the targets of a CrossEntropy output (same count).
func (b *Backend) SetTargets(loss backend.Value, targets []int) error {
	return b.setFeed("SetTargets", loss, targets)
}

func (b *Backend) setFeed(op string, v backend.Value, ids []int) error {
	n := b.Node(v)
	f, ok := b.feeds[n]
	if !ok {
		return fmt.Errorf("graph.%s: %s has no ids to set", op, n.Name())
	}
	cur := ints(f.ids.Value())
	if len(ids) != len(cur) {
		return fmt.Errorf("graph.%s: %d ids, graph built for %d", op, len(ids), len(cur))
	}
	if err := checkIDs(ids, f.n, f.ignore); err != nil {
		return fmt.Errorf("graph.%s: %w", op, err)
	}
	copy(cur, ids)
	return nil
}

// RoPE rotates x [B, H, T, Dh] at positions pos (custom op; positions and
// frequencies are op parameters, all hashed).
func (b *Backend) RoPE(x backend.Value, pos []int, r *backend.RoPE) backend.Value {
	return apply(newRoPEK(pos, r), b.dt, b.Node(x))
}

// Attention: q [B, H, Tq, Dh], k, v [B, KVH, Tk, Dh] → [B, H, Tq, Dh],
// one fused op (attn_fused.go): grouped query heads read their kv head in
// place, no key or value is repeated. A KV cache is not supported
// (training runs whole sequences) and panics.
func (b *Backend) Attention(q, k, v backend.Value, opt backend.AttnOpts) backend.Value {
	return b.attention(q, k, v, opt, false)
}

// CrossEntropy is the mean over non-ignored rows of −log softmax(logits)
// at the target: logits [B, T, V] (any rank, V last), targets [B·T]. It
// panics on targets outside [0, V) other than ignoreIndex (check data
// first, or use SetTargets, which returns an error).
func (b *Backend) CrossEntropy(logits backend.Value, targets []int, ignoreIndex int) backend.Value {
	ls := b.Shape(logits)
	if len(ls) == 0 {
		panic("graph.CrossEntropy: scalar logits")
	}
	if err := checkIDs(targets, ls[len(ls)-1], ignoreIndex); err != nil {
		panic("graph.CrossEntropy: target " + err.Error())
	}
	tn := gorgonia.NewTensor(b.g, tensor.Int, 1, gorgonia.WithShape(len(targets)), gorgonia.WithName(b.name("targets")),
		gorgonia.WithValue(tensor.New(tensor.WithShape(len(targets)), tensor.WithBacking(slices.Clone(targets)))))
	y := apply(newCrossEntropyK(b.th, ignoreIndex), b.dt, b.Node(logits), tn)
	b.feeds[y] = feed{ids: tn, n: ls[len(ls)-1], ignore: ignoreIndex}
	return y
}
