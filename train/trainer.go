package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Defaults of Config.
const (
	DefaultBatch    = 4
	DefaultAccum    = 1
	DefaultKeepLast = 2
	// megabatchFactor: batches are cut from groups of this many batches
	// sorted by length (LLaVA's length-grouped sampling).
	megabatchFactor = 8
)

// ErrNonFinite is returned (wrapped) when a loss or gradient is NaN or
// infinite; the run stops and the last good checkpoint stays.
var ErrNonFinite = errors.New("train: non-finite loss or gradient")

// Config is one run's settings (saved in every checkpoint).
type Config struct {
	Recipe Recipe `json:"recipe"`
	// Steps is the total number of optimizer steps (0: the recipe's
	// lengths), split over the stages in proportion to their lengths.
	Steps int `json:"steps"`
	// Batch sequences per micro-batch; Accum micro-batches per step.
	Batch int `json:"batch"`
	Accum int `json:"accum"`
	// Seed fixes the data order: the same seed gives the same run.
	Seed uint64 `json:"seed"`
	// EvalEvery evaluates on the eval data every N steps (0: at the end
	// only, when there is eval data).
	EvalEvery int `json:"eval_every"`
	// SaveEvery writes a checkpoint every N steps (0: only at the end).
	SaveEvery int `json:"save_every"`
	// KeepLast checkpoints are kept, plus the best one.
	KeepLast int `json:"keep_last"`
	// MaxLen caps a sequence (0: max_position_embeddings). Longer rows
	// are cut at the end unless that would cut image tokens.
	MaxLen int `json:"max_len"`
	// SkipBad skips bad rows (counted) instead of failing.
	SkipBad bool `json:"skip_bad"`
	// ExactMatch also measures, at every evaluation, the share of eval
	// rows whose first answer greedy decoding reproduces exactly.
	ExactMatch bool `json:"exact_match,omitempty"`
	// Replicas > 1 splits each micro-batch's rows over this many replicas
	// of the compiled graph, run side by side on one thread each, their
	// gradients summed (data parallelism: faster than one graph on
	// several threads for small models). 0 or 1 is one graph. At most
	// Batch replicas are used. The result depends on it only by float32
	// rounding, never on GOMAXPROCS or scheduling. Memory: each replica
	// keeps its own activations (the frozen weights' packed copies are
	// shared).
	Replicas int `json:"replicas,omitempty"`
}

func (c *Config) defaults() {
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Accum == 0 {
		c.Accum = DefaultAccum
	}
	if c.KeepLast == 0 {
		c.KeepLast = DefaultKeepLast
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Replicas < 0 {
		return fmt.Errorf("train: bad config: replicas %d (0 or 1: one graph)", c.Replicas)
	}
	if c.Batch < 1 || c.Accum < 1 || c.Steps < 0 || c.EvalEvery < 0 || c.SaveEvery < 0 || c.KeepLast < 1 || c.MaxLen < 0 {
		return fmt.Errorf("train: bad config: batch %d, accum %d, steps %d, eval_every %d, save_every %d, keep_last %d, max_len %d",
			c.Batch, c.Accum, c.Steps, c.EvalEvery, c.SaveEvery, c.KeepLast, c.MaxLen)
	}
	return c.Recipe.Validate()
}

// LogEntry is one optimizer step of the loss history.
type LogEntry struct {
	Step     int     `json:"step"`
	Stage    int     `json:"stage"`
	Loss     float64 `json:"loss"`
	LR       float64 `json:"lr"`
	GradNorm float64 `json:"grad_norm"` // before clipping
	Tokens   int     `json:"tokens"`
	EvalLoss float64 `json:"eval_loss,omitempty"`
	HasEval  bool    `json:"has_eval,omitempty"`
	// EvalExact is the exact-match rate (Config.ExactMatch).
	EvalExact float64 `json:"eval_exact,omitempty"`
}

// StepInfo is what OnStep reports after each optimizer step.
type StepInfo struct {
	LogEntry
	Total     int
	StageName string
	Elapsed   time.Duration // this step
	TokPerSec float64
}

// Trainer runs a recipe on a model.
type Trainer struct {
	// OnStep, when set, is called after every optimizer step.
	OnStep func(StepInfo)
	// OnCheckpoint, when set, is called after every checkpoint.
	OnCheckpoint func(dir string)

	cfg     Config
	model   *fovea.Model
	parts   fovea.Parts
	arch    arch
	data    []*example
	eval    []*example
	skipped []*RowError
	stops   []int // ids that end an assistant turn
	lengths []int
	names   map[*tensor.Tensor]string
	groups  map[*tensor.Tensor]Group
	graphs  map[bucket]*stepGraph
	opts    map[Group]*graph.AdamW
	optFor  int // stage the optimizers belong to (-1: none)
	order   map[int][][]int
	builds  int // graphs compiled (one per bucket and stage)
	st      runState
	out     string
}

// runState is the resumable part of a run.
type runState struct {
	Step    int        `json:"step"`
	Epoch   int        `json:"epoch"`
	Batch   int        `json:"batch"` // next batch of the epoch
	Log     []LogEntry `json:"log"`
	Best    float64    `json:"best"`
	BestDir string     `json:"best_dir"`
	Config  Config     `json:"config"`
	Stage   int        `json:"stage"`
	// OptSteps is each group's AdamW step count (moments are in
	// optimizer.safetensors).
	OptSteps map[Group]int `json:"opt_steps"`
	// Data fingerprints the tokenized training rows: a resumed run must
	// see the same data for its data position to mean the same rows.
	Data string `json:"data"`
}

// fingerprint hashes the tokenized rows (ids, labels, images) in order.
func fingerprint(exs []*example) string {
	h := sha256.New()
	var buf [8]byte
	put := func(v int) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	for _, e := range exs {
		put(len(e.ids))
		for i := range e.ids {
			put(e.ids[i])
			put(e.labels[i])
		}
		for _, p := range e.images {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// New prepares a run: tokenizes the data with the model's chat template
// (bad rows reported by line, or skipped and counted with SkipBad) and
// checks that the model's weights are trainable (load it with
// fovea.ForTraining). eval may be nil. out is the output folder.
func New(m *fovea.Model, data, eval *Dataset, cfg Config, out string) (*Trainer, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := m.Parts()
	t := &Trainer{cfg: cfg, model: m, parts: p, graphs: map[bucket]*stepGraph{}, optFor: -1,
		order: map[int][][]int{}, out: out, names: map[*tensor.Tensor]string{}, groups: map[*tensor.Tensor]Group{}}
	switch p.Kind {
	case fovea.KindLlava:
		t.arch = &llavaArch{p: p, model: m, cache: map[string]*imageData{}}
	case fovea.KindMllama:
		cross := map[int]bool{}
		for i, l := range p.Decoder.Layers {
			if _, ok := l.(*crossattn.Layer); ok {
				cross[i] = true
			}
		}
		t.arch = &mllamaArch{p: p, model: m, cross: cross, cache: map[string]*imageData{}}
	default:
		return nil, fmt.Errorf("train: a %s model cannot be trained by this package (LLaVA and Mllama can)", p.Kind)
	}
	if p.Tokenizer == nil {
		return nil, errors.New("train: the model folder has no tokenizer (tokenizer.json): the data cannot be tokenized")
	}
	t.stops = stopTokens(p.Tokenizer)
	for _, w := range p.Weights {
		if w.Tensor.Data == nil {
			return nil, fmt.Errorf("train: weight %s holds no float32 values: load the model with fovea.ForTraining()", w.Name)
		}
		t.names[w.Tensor] = w.Name
		t.groups[w.Tensor] = t.arch.group(w.Name)
	}
	var err error
	if t.data, err = t.prepare(data); err != nil {
		return nil, err
	}
	if eval != nil {
		if t.eval, err = t.prepare(eval); err != nil {
			return nil, err
		}
	}
	for _, e := range t.data {
		t.lengths = append(t.lengths, len(e.ids))
	}
	t.st = runState{Best: math.Inf(1), Config: cfg, OptSteps: map[Group]int{}, Data: fingerprint(t.data)}
	return t, nil
}

// Skipped lists the bad rows left out (loading and tokenizing).
func (t *Trainer) Skipped() []*RowError { return t.skipped }

// maxLen is the longest sequence a row may have.
func (t *Trainer) maxLen() int {
	limit := t.parts.Decoder.Config().MaxPositionEmbeddings
	if t.cfg.MaxLen > 0 {
		limit = min(limit, t.cfg.MaxLen)
	}
	return limit
}

// prepare tokenizes every row; a bad row fails or is skipped.
func (t *Trainer) prepare(ds *Dataset) ([]*example, error) {
	t.skipped = append(t.skipped, ds.Skipped...)
	var out []*example
	for i := range ds.Rows {
		r := &ds.Rows[i]
		e, err := t.tokenize(r)
		if err != nil {
			re := &RowError{File: ds.Path, Line: r.Line, ID: r.ID, Err: err}
			if !t.cfg.SkipBad {
				return nil, re
			}
			t.skipped = append(t.skipped, re)
			continue
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("train: %s: no usable rows (%d skipped)", ds.Path, len(t.skipped))
	}
	return out, nil
}

func (t *Trainer) tokenize(r *Row) (*example, error) {
	ids, labels, err := renderConversation(t.model, t.stops, r.Turns)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, id := range ids {
		if id == t.parts.ImageToken {
			n++
		}
	}
	if n != len(r.Images) {
		return nil, fmt.Errorf("the prompt has %d image tokens (id %d) for %d images", n, t.parts.ImageToken, len(r.Images))
	}
	ids, labels = t.arch.expand(ids, labels)
	if limit := t.maxLen(); len(ids) > limit {
		if slices.Contains(ids[limit:], t.parts.ImageToken) {
			return nil, fmt.Errorf("%d tokens exceed the context of %d, and cutting them would cut image tokens", len(ids), limit)
		}
		ids, labels = ids[:limit], labels[:limit]
	}
	e := &example{line: r.Line, id: r.ID, ids: ids, labels: labels, images: r.Images}
	if e.targets() == 0 {
		return nil, errors.New("every label is masked: the row has no answer tokens to learn from")
	}
	return e, nil
}

// stepsPerEpoch is the number of optimizer steps in one pass.
func (t *Trainer) stepsPerEpoch() int {
	b := (len(t.data) + t.cfg.Batch - 1) / t.cfg.Batch
	return max(1, b/t.cfg.Accum)
}

// schedule returns the stage lengths in steps.
func (t *Trainer) schedule() ([]int, error) {
	return stageLengths(&t.cfg.Recipe, t.stepsPerEpoch(), t.cfg.Steps)
}

// TotalSteps is the run's length in optimizer steps.
func (t *Trainer) TotalSteps() int {
	l, err := t.schedule()
	if err != nil {
		return 0
	}
	total := 0
	for _, n := range l {
		total += n
	}
	return total
}

// stageAt returns the stage of global step s (1-based), the step within
// it and its length.
func stageAt(lengths []int, s int) (stage, k, n int) {
	for i, l := range lengths {
		if s <= l {
			return i, s, l
		}
		s -= l
	}
	return len(lengths) - 1, lengths[len(lengths)-1], lengths[len(lengths)-1]
}

// lrs returns the stage's learning rate per trainable group.
func (t *Trainer) lrs(stage int) map[Group]float64 {
	out := map[Group]float64{}
	for g, lr := range t.cfg.Recipe.Stages[stage].LR {
		out[g] = lr
	}
	if _, ok := t.arch.(*mllamaArch); ok {
		if _, set := out[CrossAttn]; !set {
			out[CrossAttn] = DefaultCrossAttnLR // cross-attention trains in every stage
		}
	}
	return out
}

// epochBatches is the batch order of an epoch: a pure function of (seed,
// epoch). Rows are shuffled, cut into groups of megabatchFactor batches,
// sorted by length inside each group (similar lengths share a bucket),
// cut into batches, and the batches shuffled.
func (t *Trainer) epochBatches(epoch int) [][]int {
	if b, ok := t.order[epoch]; ok {
		return b
	}
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(epoch)+1))
	perm := rng.Perm(len(t.data))
	mb := t.cfg.Batch * megabatchFactor
	var batches [][]int
	for s := 0; s < len(perm); s += mb {
		group := slices.Clone(perm[s:min(s+mb, len(perm))])
		sort.SliceStable(group, func(i, j int) bool { return t.lengths[group[i]] > t.lengths[group[j]] })
		for b := 0; b < len(group); b += t.cfg.Batch {
			batches = append(batches, group[b:min(b+t.cfg.Batch, len(group))])
		}
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	t.order = map[int][][]int{epoch: batches}
	return batches
}

// nextBatch returns the next micro-batch's rows and advances the data position.
func (t *Trainer) nextBatch() []*example {
	bs := t.epochBatches(t.st.Epoch)
	if t.st.Batch >= len(bs) {
		t.st.Epoch++
		t.st.Batch = 0
		bs = t.epochBatches(t.st.Epoch)
	}
	idx := bs[t.st.Batch]
	t.st.Batch++
	out := make([]*example, len(idx))
	for i, j := range idx {
		out[i] = t.data[j]
	}
	return out
}

// imageInputs reads (or computes once) every image input of exs, row by
// row, and returns them with the longest row's length.
func (t *Trainer) imageInputs(ctx context.Context, exs []*example, visionTrains bool) ([][]*imageData, int, error) {
	longest := 0
	imgs := make([][]*imageData, len(exs))
	for i, e := range exs {
		longest = max(longest, len(e.ids))
		for _, p := range e.images {
			d, err := t.arch.imageInput(ctx, p, visionTrains)
			if err != nil {
				return nil, 0, fmt.Errorf("train: line %d: %w", e.line, err)
			}
			imgs[i] = append(imgs[i], d)
		}
	}
	return imgs, longest, nil
}

// microBatch lays out rows for their bucket and returns the graph.
func (t *Trainer) microBatch(ctx context.Context, exs []*example, stage int, visionTrains bool) (*stepGraph, *batch, error) {
	if n := t.replicaCount(); n > 1 {
		return t.microBatchReplicas(ctx, exs, stage, visionTrains, n)
	}
	imgs, longest, err := t.imageInputs(ctx, exs, visionTrains)
	if err != nil {
		return nil, nil, err
	}
	targets := 0
	for _, e := range exs {
		targets += e.targets()
	}
	bsz := t.cfg.Batch
	tokens := bucketTokens(longest, t.maxLen())
	k := bucket{stage: stage, tokens: tokens, slots: t.arch.slots(exs), rows: bucketRows(targets, bsz*tokens)}
	bt, err := t.arch.layout(exs, imgs, k, bsz, visionTrains)
	if err != nil {
		return nil, nil, err
	}
	sg, ok := t.graphs[k]
	if !ok {
		lr := t.lrs(stage)
		g := graph.New(graph.Options{Trainable: func(w *tensor.Tensor) bool {
			_, on := lr[t.groups[w]]
			return on
		}})
		if sg, err = t.arch.build(g, k, bsz, visionTrains); err == nil {
			err = sg.compile()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("train: building the graph for %d×%d tokens: %w", bsz, tokens, err)
		}
		t.graphs[k] = sg
		t.builds++
	}
	if err := sg.bind(bt); err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	return sg, bt, nil
}

// dropGraphs releases the compiled graphs (at a stage change).
func (t *Trainer) dropGraphs() {
	for k, sg := range t.graphs {
		_ = sg.close()
		delete(t.graphs, k)
	}
}

// step runs one optimizer step.
func (t *Trainer) step(ctx context.Context, lengths []int) (LogEntry, error) {
	s := t.st.Step + 1
	stage, k, n := stageAt(lengths, s)
	lr := t.lrs(stage)
	_, visionTrains := lr[Vision]
	if t.optFor != stage {
		if t.optFor >= 0 {
			t.dropGraphs()
		}
		t.opts = map[Group]*graph.AdamW{}
		for g := range lr {
			t.opts[g] = graph.NewAdamW(lr[g], t.cfg.Recipe.WeightDecay)
		}
		t.optFor = stage
	}
	type micro struct {
		sg *stepGraph
		bt *batch
	}
	var ms []micro
	total, tokens := 0, 0
	for range t.cfg.Accum {
		exs := t.nextBatch()
		sg, bt, err := t.microBatch(ctx, exs, stage, visionTrains)
		if err != nil {
			return LogEntry{}, err
		}
		ms = append(ms, micro{sg, bt})
		total += bt.ntargets
		tokens += bt.tokens
	}
	// Token-weighted accumulation: each micro-batch's mean loss counts
	// by its share of the step's targets.
	grads := map[*tensor.Tensor][]float32{}
	var order []*tensor.Tensor
	loss := 0.0
	for _, mb := range ms {
		if err := mb.sg.bind(mb.bt); err != nil {
			return LogEntry{}, fmt.Errorf("train: %w", err)
		}
		if err := mb.sg.run(ctx); err != nil {
			return LogEntry{}, err
		}
		lv, err := mb.sg.lossValue()
		if err != nil {
			return LogEntry{}, err
		}
		w := float64(mb.bt.ntargets) / float64(max(total, 1))
		loss += lv * w
		for _, p := range mb.sg.gradParams() {
			g, err := p.Grad()
			if err != nil {
				return LogEntry{}, err
			}
			acc, ok := grads[p.Tensor]
			if !ok {
				acc = make([]float32, p.Tensor.Len())
				grads[p.Tensor] = acc
				order = append(order, p.Tensor)
			}
			for i, v := range g.Data {
				acc[i] += float32(w) * v
			}
		}
	}
	norm2 := 0.0
	for _, w := range order {
		for _, v := range grads[w] {
			norm2 += float64(v) * float64(v)
		}
	}
	norm := math.Sqrt(norm2)
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return LogEntry{}, fmt.Errorf("%w at step %d (loss %v, gradient norm %v); the last checkpoint in %s is the last good state",
			ErrNonFinite, s, loss, norm, t.out)
	}
	if c := t.cfg.Recipe.ClipNorm; c > 0 && norm > c {
		scale := float32(c / (norm + 1e-6))
		for _, w := range order {
			for i := range grads[w] {
				grads[w][i] *= scale
			}
		}
	}
	mult := lrMultiplier(k, n, t.cfg.Recipe.WarmupRatio, t.cfg.Recipe.MinLRRatio)
	for _, g := range Groups() {
		o, ok := t.opts[g]
		if !ok {
			continue
		}
		var ps []graph.Param
		var gs []*tensor.Tensor
		for _, w := range order {
			if t.groups[w] == g {
				ps = append(ps, graph.Param{Tensor: w})
				gs = append(gs, &tensor.Tensor{Shape: w.Shape, Data: grads[w]})
			}
		}
		if len(ps) == 0 {
			continue
		}
		o.LR = lr[g] * mult
		if err := o.Update(ps, gs); err != nil {
			return LogEntry{}, err
		}
	}
	t.st.Step = s
	t.st.Stage = stage
	main := lr[Decoder]
	for _, g := range []Group{Projector, CrossAttn, Vision} {
		if main == 0 {
			main = lr[g]
		}
	}
	return LogEntry{Step: s, Stage: stage, Loss: loss, LR: main * mult, GradNorm: norm, Tokens: tokens}, nil
}

// Evaluate returns the mean loss per target token over the eval data
// (the training data when there is none) with the current weights.
func (t *Trainer) Evaluate(ctx context.Context) (float64, error) {
	exs := t.eval
	if exs == nil {
		exs = t.data
	}
	stage := max(t.st.Stage, 0)
	_, visionTrains := t.lrs(stage)[Vision]
	sum, n := 0.0, 0
	for s := 0; s < len(exs); s += t.cfg.Batch {
		sg, bt, err := t.microBatch(ctx, exs[s:min(s+t.cfg.Batch, len(exs))], stage, visionTrains)
		if err != nil {
			return 0, err
		}
		if err := sg.run(ctx); err != nil {
			return 0, err
		}
		lv, err := sg.lossValue()
		if err != nil {
			return 0, err
		}
		sum += lv * float64(bt.ntargets)
		n += bt.ntargets
	}
	return sum / float64(max(n, 1)), nil
}
