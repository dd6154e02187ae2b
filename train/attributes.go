package train

import (
	"context"
	"errors"
	"fmt"
	stdimage "image"
	"math"
	"math/rand/v2"
	"time"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// Supervised image-attribute pretraining of a LLaVA model's CLIP tower.
//
// The tower's patch tokens (the layer and strategy its projector reads,
// so the features the decoder will see are the ones trained) are
// mean-pooled per token group (an image region: a column, a quadrant, the
// whole image), layer-normed, and a linear head predicts each group's
// attributes (one cross-entropy per attribute). With TokenLoss the same
// head is also applied to every patch token, asked about its own group;
// with GroupLoss a second linear head makes every token predict which
// group it belongs to. The labels are the only supervision: a caption
// that is a function of a few discrete facts per region carries the same
// information as these labels, and a contrastive objective against it
// would carry at most log₂(batch) bits per image and need a text tower.
// The head is not part of the model: it is returned for measuring
// (AttributeHead.Accuracy) and dropped when the model is saved.

// AttributeTask describes the labels.
type AttributeTask struct {
	// Classes is the number of classes of each attribute, in label order
	// (for the shapes world: present 2, kind 3, colour 4).
	Classes []int
	// TokenGroup is the group of each patch token, in the tower's patch
	// order (row-major); groups are 0..max. Every group needs a token.
	TokenGroup []int
	// TokenLoss also trains the head on every token (its group's labels).
	TokenLoss bool
	// GroupLoss trains every token to predict its group.
	GroupLoss bool
}

// groups is the number of token groups.
func (t *AttributeTask) groups() int {
	g := 0
	for _, v := range t.TokenGroup {
		g = max(g, v+1)
	}
	return g
}

func (t *AttributeTask) width() int {
	w := 0
	for _, c := range t.Classes {
		w += c
	}
	return w
}

// Validate checks the task.
func (t *AttributeTask) Validate() error {
	if len(t.Classes) == 0 {
		return errors.New("train: attribute task has no attributes")
	}
	for i, c := range t.Classes {
		if c < 2 {
			return fmt.Errorf("train: attribute %d has %d classes, want at least 2", i, c)
		}
	}
	if len(t.TokenGroup) == 0 {
		return errors.New("train: attribute task has no token groups")
	}
	seen := make([]bool, len(t.TokenGroup))
	for p, g := range t.TokenGroup {
		if g < 0 || g >= len(t.TokenGroup) {
			return fmt.Errorf("train: token %d has group %d, want 0..%d", p, g, len(t.TokenGroup)-1)
		}
		seen[g] = true
	}
	for g := 0; g < t.groups(); g++ {
		if !seen[g] {
			return fmt.Errorf("train: group %d has no token", g)
		}
	}
	return nil
}

// AttributeExample is one image and its labels: for each group, each
// attribute's class (IgnoreIndex: no label), group-major — labels
// [g·len(Classes) + a].
type AttributeExample struct {
	Image  stdimage.Image
	Labels []int
}

// AttributeConfig is one attribute-pretraining run.
type AttributeConfig struct {
	Task AttributeTask
	// Steps optimizer steps of Batch images.
	Steps, Batch int
	// LR is AdamW's peak learning rate: linear warmup over WarmupRatio of
	// the steps, then cosine to MinLRRatio of the peak.
	LR, WeightDecay         float64
	WarmupRatio, MinLRRatio float64
	// Seed fixes the head's initialisation and the image order.
	Seed uint64
	// OnStep, when set, is called after each step with its mean loss.
	OnStep func(step int, loss float64)
}

// Defaults of AttributeConfig (measured on the shapes world: DESIGN.md of
// examples/shapes).
const (
	DefaultAttributeLR     = 2e-3
	DefaultAttributeBatch  = 32
	defaultAttributeWarmup = 0.05
	attributeHeadInitStd   = 0.02
	attributeNormEps       = 1e-5
	attributeEvalBatch     = 64
)

// AttributeHead is the trained head, for measuring the tower.
type AttributeHead struct {
	task    AttributeTask
	norm    vision.LayerNorm
	head    vision.Linear
	groupHd vision.Linear
	pool    *tensor.Tensor // [G, P]: 1/count for the tokens of each group
}

// AttributeSummary is what an attribute-pretraining run reports.
type AttributeSummary struct {
	Steps                int
	FirstLoss, FinalLoss float64
	Trained              int // tower parameters trained
	Elapsed              time.Duration
}

// PretrainVision trains m's vision tower (LLaVA's CLIP tower; its weights
// are updated in place) on the labelled images. Deterministic for a seed.
func PretrainVision(ctx context.Context, m *fovea.Model, data []AttributeExample, cfg AttributeConfig) (*AttributeHead, *AttributeSummary, error) {
	start := time.Now()
	tw, err := towerOf(m)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.Task.Validate(); err != nil {
		return nil, nil, err
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultAttributeBatch
	}
	if cfg.LR == 0 {
		cfg.LR = DefaultAttributeLR
	}
	if cfg.WarmupRatio == 0 {
		cfg.WarmupRatio = defaultAttributeWarmup
	}
	if cfg.MinLRRatio == 0 {
		cfg.MinLRRatio = DefaultMinLRRatio
	}
	switch {
	case cfg.Steps < 1 || cfg.Batch < 1:
		return nil, nil, fmt.Errorf("train: PretrainVision steps %d and batch %d must be positive", cfg.Steps, cfg.Batch)
	case len(data) < cfg.Batch:
		return nil, nil, fmt.Errorf("train: PretrainVision has %d images, fewer than a batch of %d", len(data), cfg.Batch)
	case !(cfg.LR > 0) || math.IsInf(cfg.LR, 0):
		return nil, nil, fmt.Errorf("train: PretrainVision lr %v must be positive", cfg.LR)
	}
	t := cfg.Task
	if p := tw.patches(); p != len(t.TokenGroup) {
		return nil, nil, fmt.Errorf("train: the tower has %d patch tokens, the task groups %d", p, len(t.TokenGroup))
	}
	nLab := t.groups() * len(t.Classes)
	for i, ex := range data {
		if len(ex.Labels) != nLab {
			return nil, nil, fmt.Errorf("train: image %d has %d labels, want %d (groups × attributes)", i, len(ex.Labels), nLab)
		}
		for j, l := range ex.Labels {
			if l != IgnoreIndex && (l < 0 || l >= t.Classes[j%len(t.Classes)]) {
				return nil, nil, fmt.Errorf("train: image %d label %d is %d, want 0..%d or IgnoreIndex", i, j, l, t.Classes[j%len(t.Classes)]-1)
			}
		}
	}
	px, err := tw.preprocess(data)
	if err != nil {
		return nil, nil, err
	}
	h := newAttributeHead(t, tw.width(), cfg.Seed)
	pixLen := px.Len() / len(data)

	be := graph.New(graph.Options{})
	batchPix := tensor.New(append([]int{cfg.Batch}, px.Shape[1:]...)...)
	pixels := be.Const(batchPix)
	feats, err := tw.graphFeatures(be, pixels, cfg.Batch) // [B, P, D]
	if err != nil {
		return nil, nil, err
	}
	var losses []backend.Value
	var lossTargets []func(idx []int) []int
	addCE := func(lg backend.Value, rows int, tgt func(idx []int) []int) {
		off := 0
		for a, c := range t.Classes {
			a, lo := a, off
			losses = append(losses, be.CrossEntropy(be.Slice(lg, 1, lo, lo+c), make([]int, rows), IgnoreIndex))
			lossTargets = append(lossTargets, func(idx []int) []int { return pick(tgt(idx), len(t.Classes), a) })
			off += c
		}
	}
	groups := t.groups()
	groupLabels := func(idx []int) []int { // [B·G·A]
		out := make([]int, 0, len(idx)*nLab)
		for _, j := range idx {
			out = append(out, data[j].Labels...)
		}
		return out
	}
	addCE(h.pooledLogits(be, feats), cfg.Batch*groups, groupLabels)
	if t.TokenLoss {
		addCE(h.tokenLogits(be, feats), cfg.Batch*len(t.TokenGroup), func(idx []int) []int {
			return perTokenLabels(groupLabels(idx), t.TokenGroup, len(t.Classes), groups)
		})
	}
	if t.GroupLoss {
		colT := make([]int, 0, cfg.Batch*len(t.TokenGroup))
		for i := 0; i < cfg.Batch; i++ {
			colT = append(colT, t.TokenGroup...)
		}
		fs := be.Shape(feats)
		losses = append(losses, be.CrossEntropy(h.groupHd.Forward(be, be.Reshape(feats, fs[0]*fs[1], fs[2])), colT, IgnoreIndex))
		lossTargets = append(lossTargets, nil)
	}
	loss := losses[0]
	for _, l := range losses[1:] {
		loss = be.Add(loss, l)
	}
	if err := be.Backward(loss); err != nil {
		return nil, nil, err
	}
	mach, err := be.Compile()
	if err != nil {
		return nil, nil, err
	}
	defer mach.Close()
	opt := graph.NewAdamW(cfg.LR, cfg.WeightDecay)
	opt.MaxGradNorm = DefaultClipNorm
	towerParams := 0
	for _, p := range be.Params() {
		towerParams += p.Tensor.Len()
	}
	towerParams -= h.params()

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5a77))
	perm := rng.Perm(len(data))
	pos := 0
	sum := &AttributeSummary{Trained: towerParams}
	idx := make([]int, cfg.Batch)
	for step := 1; step <= cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return h, sum, err
		}
		for i := range idx {
			if pos == len(perm) {
				perm, pos = rng.Perm(len(data)), 0
			}
			idx[i], pos = perm[pos], pos+1
			copy(batchPix.Data[i*pixLen:(i+1)*pixLen], px.Data[idx[i]*pixLen:(idx[i]+1)*pixLen])
		}
		if err := be.SetConst(pixels, batchPix); err != nil {
			return h, sum, err
		}
		for k, f := range lossTargets {
			if f == nil {
				continue
			}
			if err := be.SetTargets(losses[k], f(idx)); err != nil {
				return h, sum, err
			}
		}
		if err := mach.Run(ctx); err != nil {
			return h, sum, err
		}
		lv, err := be.Read(loss)
		if err != nil {
			return h, sum, err
		}
		l := float64(lv.Data[0])
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return h, sum, fmt.Errorf("train: PretrainVision step %d: loss %v: %w", step, l, ErrNonFinite)
		}
		opt.LR = cfg.LR * attributeSchedule(float64(step-1)/float64(cfg.Steps), cfg.WarmupRatio, cfg.MinLRRatio)
		if err := opt.Step(be.Params()); err != nil {
			return h, sum, err
		}
		if step == 1 {
			sum.FirstLoss = l
		}
		sum.FinalLoss, sum.Steps = l, step
		if cfg.OnStep != nil {
			cfg.OnStep(step, l)
		}
	}
	sum.Elapsed = time.Since(start)
	return h, sum, nil
}

// attributeSchedule is the lr multiplier at fraction f of the run.
func attributeSchedule(f, warm, floor float64) float64 {
	if f < warm {
		return (f + 1e-3) / warm
	}
	f = min(1, (f-warm)/(1-warm))
	return floor + (1-floor)*0.5*(1+math.Cos(math.Pi*f))
}

// pick takes attribute a of labels laid out [rows, attrs].
func pick(labels []int, attrs, a int) []int {
	out := make([]int, len(labels)/attrs)
	for i := range out {
		out[i] = labels[i*attrs+a]
	}
	return out
}

// perTokenLabels expands group labels [N, G, A] to token labels [N, P, A].
func perTokenLabels(groupLabels, tokenGroup []int, attrs, groups int) []int {
	n := len(groupLabels) / (groups * attrs)
	out := make([]int, 0, n*len(tokenGroup)*attrs)
	for i := 0; i < n; i++ {
		for _, g := range tokenGroup {
			o := (i*groups + g) * attrs
			out = append(out, groupLabels[o:o+attrs]...)
		}
	}
	return out
}

// tower is the vision encoder of a LLaVA (CLIP) or Mllama model, as the
// attribute objective sees it: preprocessed pixels per image and the patch
// tokens the projector reads, without CLS.
type tower struct {
	m      *fovea.Model
	parts  fovea.Parts
	mllama bool
}

func towerOf(m *fovea.Model) (*tower, error) {
	p := m.Parts()
	switch {
	case p.CLIP != nil && p.Projector != nil:
		pc := p.ProjectorConfig
		if pc.SelectStrategy != "default" || len(pc.FeatureLayers) != 1 {
			return nil, fmt.Errorf("train: PretrainVision needs one vision_feature_layer and the \"default\" strategy, got %v and %q", pc.FeatureLayers, pc.SelectStrategy)
		}
		return &tower{m: m, parts: p}, nil
	case p.MllamaVision != nil:
		if c := p.MllamaVision.Config(); c.MaxNumTiles != 1 {
			return nil, fmt.Errorf("train: PretrainVision needs an Mllama vision encoder with one tile, got max_num_tiles %d", c.MaxNumTiles)
		}
		return &tower{m: m, parts: p, mllama: true}, nil
	}
	return nil, fmt.Errorf("train: PretrainVision needs a LLaVA or Mllama model, got %s", m.Kind())
}

// patches is the patch tokens per image (CLS not counted).
func (t *tower) patches() int {
	if t.mllama {
		return t.parts.MllamaVision.TileTokens() - 1
	}
	cc := t.parts.CLIP.Config()
	g := cc.ImageSize / cc.PatchSize
	return g * g
}

// width is the channels of a patch token.
func (t *tower) width() int {
	if t.mllama {
		return t.parts.MllamaVision.Config().VisionOutputDim
	}
	return t.parts.CLIP.Config().HiddenSize * len(t.parts.ProjectorConfig.FeatureLayers)
}

// preprocess runs the model's image processor over every image once:
// [N, 3, S, S] (CLIP) or [N, 1, 1, 3, S, S] (Mllama: one image of one tile).
func (t *tower) preprocess(data []AttributeExample) (*tensor.Tensor, error) {
	var all *tensor.Tensor
	per := 0
	for start := 0; start < len(data); start += attributeEvalBatch {
		end := min(start+attributeEvalBatch, len(data))
		imgs := make([]stdimage.Image, 0, end-start)
		for i := start; i < end; i++ {
			if data[i].Image == nil {
				return nil, fmt.Errorf("train: image %d is nil", i)
			}
			imgs = append(imgs, data[i].Image)
		}
		px, err := t.m.PreprocessImages(imgs)
		if err != nil {
			return nil, err
		}
		v := px.Values
		if all == nil {
			one := v.Shape[1:] // CLIP [3, S, S]
			if t.mllama {
				one = append([]int{1}, v.Shape[2:]...) // [1, tiles, 3, S, S]
			}
			all = tensor.New(append([]int{len(data)}, one...)...)
			per = tensor.Numel(one)
		}
		copy(all.Data[start*per:], v.Data)
	}
	return all, nil
}

// graphFeatures runs the tower on the graph: pixels of bsz images →
// patch tokens [B, P, D].
func (t *tower) graphFeatures(g *graph.Backend, pixels backend.Value, bsz int) (backend.Value, error) {
	if !t.mllama {
		return clipFeatures(g, t.parts, pixels)
	}
	mv := t.parts.MllamaVision
	c := mv.Config()
	masks := make([][][]int, bsz)
	ids := make([]int, bsz)
	for i := range masks {
		masks[i], ids[i] = [][]int{{1}}, 1
	}
	mask := g.Const(vision.MllamaAspectRatioMask(masks, mv.TileTokens(), c.PaddedTileTokens()))
	out, err := mv.ForwardValues(g, pixels, ids, mask)
	if err != nil {
		return nil, err
	}
	return mllamaPatchTokens(g, out.Output, bsz), nil
}

// eagerFeatures runs the tower eagerly on preprocessed pixels of n images.
func (t *tower) eagerFeatures(px *tensor.Tensor, n int) (backend.Value, error) {
	var e backend.Eager
	if !t.mllama {
		return clipFeatures(e, t.parts, px)
	}
	ids, masks := make([][]int, n), make([][][]int, n)
	for i := range ids {
		ids[i], masks[i] = []int{1}, [][]int{{1}}
	}
	in := &vision.MllamaVisionInput{Pixels: px, AspectRatioIDs: ids, AspectRatioMask: masks}
	if err := t.parts.MllamaVision.CheckInput(in); err != nil {
		return nil, err
	}
	return mllamaPatchTokens(e, t.parts.MllamaVision.Forward(e, in).Output, n), nil
}

// mllamaPatchTokens maps the encoder output [B, 1, 1, P+1, Dv] to the
// patch tokens [B, P, Dv] (CLS, position 0, dropped).
func mllamaPatchTokens(b backend.Backend, out backend.Value, bsz int) backend.Value {
	sh := b.Shape(out)
	x := b.Reshape(out, bsz, sh[3], sh[4]) // [B, P+1, Dv]
	return b.Slice(x, 1, 1, sh[3])         // [B, P, Dv]
}

// clipFeatures runs the CLIP tower on pixels [N, 3, S, S] and selects what
// the projector reads: [N, P, D] (the "default" strategy drops CLS).
func clipFeatures(b backend.Backend, parts fovea.Parts, pixels backend.Value) (backend.Value, error) {
	pc := parts.ProjectorConfig
	hidden := parts.CLIP.HiddenStates(b, pixels, pc.MaxLayer())
	return projector.SelectFeatures(b, hidden, pc)
}

func newAttributeHead(t AttributeTask, d int, seed uint64) *AttributeHead {
	h := &AttributeHead{task: t, norm: vision.NewLayerNorm(d, attributeNormEps),
		head: vision.NewLinear(d, t.width()), groupHd: vision.NewLinear(d, t.groups())}
	rng := rand.New(rand.NewPCG(seed, 0x4ead))
	for _, w := range []*tensor.Tensor{h.head.Weight, h.groupHd.Weight} {
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64() * attributeHeadInitStd)
		}
	}
	g, p := t.groups(), len(t.TokenGroup)
	counts := make([]int, g)
	for _, v := range t.TokenGroup {
		counts[v]++
	}
	h.pool = tensor.New(g, p)
	for i, v := range t.TokenGroup {
		h.pool.Data[v*p+i] = 1 / float32(counts[v])
	}
	return h
}

func (h *AttributeHead) params() int {
	return h.norm.Weight.Len() + h.norm.Bias.Len() + h.head.Weight.Len() + h.head.Bias.Len() +
		h.groupHd.Weight.Len() + h.groupHd.Bias.Len()
}

// pooledLogits maps tokens [N, P, D] → group logits [N·G, W].
func (h *AttributeHead) pooledLogits(b backend.Backend, x backend.Value) backend.Value {
	sh := b.Shape(x)
	n, p, d := sh[0], sh[1], sh[2]
	g := h.task.groups()
	x = b.Reshape(b.Transpose(x, 0, 2, 1), n*d, p)                     // [N·D, P]
	x = b.Linear(x, b.Const(h.pool), nil)                              // [N·D, G] group means
	x = b.Reshape(b.Transpose(b.Reshape(x, n, d, g), 0, 2, 1), n*g, d) // [N·G, D]
	return h.head.Forward(b, h.norm.Forward(b, x))                     // [N·G, W]
}

// tokenLogits applies the head to every token: [N·P, W].
func (h *AttributeHead) tokenLogits(b backend.Backend, x backend.Value) backend.Value {
	sh := b.Shape(x)
	x = b.Reshape(x, sh[0]*sh[1], sh[2])           // [N·P, D]
	return h.head.Forward(b, h.norm.Forward(b, x)) // [N·P, W]
}

// AttributeAccuracy is the head's accuracy on labelled images.
type AttributeAccuracy struct {
	// PerAttribute is each attribute's accuracy over its labelled groups.
	PerAttribute []float64
	// Image is the share of images with every label right.
	Image float64
}

// Accuracy runs m's tower (eagerly) and the head over data.
func (h *AttributeHead) Accuracy(ctx context.Context, m *fovea.Model, data []AttributeExample) (AttributeAccuracy, error) {
	var acc AttributeAccuracy
	tw, err := towerOf(m)
	if err != nil {
		return acc, err
	}
	t := h.task
	attrs, groups, w := len(t.Classes), t.groups(), t.width()
	right, total := make([]int, attrs), make([]int, attrs)
	okImg := 0
	var e backend.Eager
	for start := 0; start < len(data); start += attributeEvalBatch {
		if err := ctx.Err(); err != nil {
			return acc, err
		}
		end := min(start+attributeEvalBatch, len(data))
		px, err := tw.preprocess(data[start:end])
		if err != nil {
			return acc, err
		}
		f, err := tw.eagerFeatures(px, end-start)
		if err != nil {
			return acc, err
		}
		lg := backend.T(h.pooledLogits(e, f)) // [n·G, W]
		for i := start; i < end; i++ {
			all := true
			labels := data[i].Labels
			if len(labels) != groups*attrs {
				return acc, fmt.Errorf("train: image %d has %d labels, want %d", i, len(labels), groups*attrs)
			}
			for g := 0; g < groups; g++ {
				row := lg.Data[((i-start)*groups+g)*w : ((i-start)*groups+g+1)*w]
				off := 0
				for a, c := range t.Classes {
					want := labels[g*attrs+a]
					if want != IgnoreIndex {
						total[a]++
						if argmax(row[off:off+c]) == want {
							right[a]++
						} else {
							all = false
						}
					}
					off += c
				}
			}
			if all {
				okImg++
			}
		}
	}
	for a := range right {
		acc.PerAttribute = append(acc.PerAttribute, float64(right[a])/float64(max(total[a], 1)))
	}
	acc.Image = float64(okImg) / float64(max(len(data), 1))
	return acc, nil
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
