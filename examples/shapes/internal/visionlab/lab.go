// Package visionlab prototypes the shapes world's vision pretraining on the
// graph backend: a CLIP vision tower (vision.CLIPVision, exactly the tower
// a LLaVA folder ships) trained with a supervised attribute head per image
// column (present, kind, colour), measured as held-out per-attribute
// accuracy against training wall time. DESIGN.md (examples/shapes) holds
// the measurements; cmd/ is the command that makes them.
package visionlab

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/vision"
)

// Attribute classes of one column: present (absent, present), kind, colour.
const (
	numPresent = 2
	numKinds   = 3
	numColours = 4
	headWidth  = numPresent + numKinds + numColours
	// ignore marks the kind and colour targets of an empty column.
	ignore = -100
	// initStd is the N(0, std²) init of every matrix (CLIP's is 0.02).
	initStd = 0.02
	// evalBatch is the eager batch for held-out evaluation.
	evalBatch = 100
)

// Config is one experiment.
type Config struct {
	ImageSize     int     `json:"image_size"` // the tower's input; 64 = no resize
	PatchSize     int     `json:"patch_size"`
	Width         int     `json:"width"`
	Layers        int     `json:"layers"`
	Heads         int     `json:"heads"`
	MLP           int     `json:"mlp"`
	Batch         int     `json:"batch"`
	LR            float64 `json:"lr"`
	WeightDecay   float64 `json:"weight_decay"`
	TrainImages   int     `json:"train_images"`
	HeldOutImages int     `json:"heldout_images"`
	Seed          uint64  `json:"seed"`
	// Act is the tower's hidden_act (default gelu).
	Act string `json:"act"`
	// TokenHead adds the head's loss on every patch token (its column's
	// attributes) to the pooled loss, so each token the decoder sees
	// carries its column's attributes.
	TokenHead bool `json:"token_head"`
	// RawHead drops the head's LayerNorm: the head reads the residual
	// stream as the projector will, so every attribute is linearly
	// readable at the scale the projector sees.
	RawHead bool `json:"raw_head"`
}

// Validate checks the sizes.
func (c Config) Validate() error {
	switch {
	case c.ImageSize < 1 || c.PatchSize < 1 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("visionlab: image_size %d must be a positive multiple of patch_size %d", c.ImageSize, c.PatchSize)
	case c.Width < 1 || c.Heads < 1 || c.Width%c.Heads != 0:
		return fmt.Errorf("visionlab: width %d must be a positive multiple of heads %d", c.Width, c.Heads)
	case c.Layers < 0 || c.MLP < 1 || c.Batch < 1 || c.TrainImages < c.Batch || c.HeldOutImages < 1:
		return fmt.Errorf("visionlab: layers %d, mlp %d, batch %d, train %d, held-out %d out of range", c.Layers, c.MLP, c.Batch, c.TrainImages, c.HeldOutImages)
	case !(c.LR > 0):
		return fmt.Errorf("visionlab: lr %v must be positive", c.LR)
	}
	return nil
}

// TowerConfig is the CLIP vision config of the experiment.
func (c Config) TowerConfig() config.CLIPVision {
	act := c.Act
	if act == "" {
		act = "gelu"
	}
	return config.CLIPVision{ModelType: config.ModelTypeCLIPVision, HiddenSize: c.Width, IntermediateSize: c.MLP,
		NumHiddenLayers: c.Layers, NumAttentionHeads: c.Heads, NumChannels: 3, ImageSize: c.ImageSize,
		PatchSize: c.PatchSize, HiddenAct: act, LayerNormEps: 1e-5, ProjectionDim: c.Width}
}

// Preprocessor is the CLIP image processor that feeds the tower: a bicubic
// resize to ImageSize when it is not 64, rescale, normalise with mean and
// std 0.5 (the shapes images are far from CLIP's photo statistics).
func (c Config) Preprocessor() *vision.CLIPPreprocessorConfig {
	p := vision.DefaultCLIPPreprocessorConfig()
	p.DoResize = c.ImageSize != shapes.Size
	p.Size = vision.SizeDict{ShortestEdge: c.ImageSize}
	p.CropSize = vision.SizeDict{Height: c.ImageSize, Width: c.ImageSize}
	p.ImageMean = []float64{0.5, 0.5, 0.5}
	p.ImageStd = []float64{0.5, 0.5, 0.5}
	return p
}

// Data is a split preprocessed once: pixels [N, 3, S, S] and the column
// targets [N·3] of each attribute.
type Data struct {
	N                     int
	Pixels                []float32
	Present, Kind, Colour []int
	pixelLen              int
}

// MakeData renders and preprocesses n scenes of split.
func MakeData(c Config, split shapes.Split, n int) (*Data, error) {
	scenes, err := shapes.Scenes(c.Seed, split, n)
	if err != nil {
		return nil, err
	}
	pp := c.Preprocessor()
	d := &Data{N: n, pixelLen: 3 * c.ImageSize * c.ImageSize}
	d.Pixels = make([]float32, 0, n*d.pixelLen)
	for _, sc := range scenes {
		pv, err := pp.Preprocess(shapes.Render(sc))
		if err != nil {
			return nil, err
		}
		d.Pixels = append(d.Pixels, pv.Data...)
		var col [shapes.NumColumns]*shapes.Shape
		for i := range sc.Shapes {
			col[sc.Shapes[i].Column] = &sc.Shapes[i]
		}
		for _, s := range col {
			if s == nil {
				d.Present, d.Kind, d.Colour = append(d.Present, 0), append(d.Kind, ignore), append(d.Colour, ignore)
				continue
			}
			d.Present, d.Kind, d.Colour = append(d.Present, 1), append(d.Kind, int(s.Kind)), append(d.Colour, int(s.Colour))
		}
	}
	return d, nil
}

// Model is the tower plus the attribute head: patch tokens mean-pooled per
// image column (a patch belongs to the column holding its centre), layer
// norm, one linear layer to the 9 attribute logits.
type Model struct {
	Tower    *vision.CLIPVision
	HeadNorm vision.LayerNorm `weight:"head_norm"`
	Head     vision.Linear    `weight:"head"`
	ColHead  vision.Linear    `weight:"col_head"` // token → its column (Config.TokenHead)
	raw      bool             // Config.RawHead
	pool     *tensor.Tensor   // [3, P]: 1/count for the patches of each column
	tokenCol []int            // [P]: the column of each patch
}

// NewModel builds a seeded random model.
func NewModel(c Config) (*Model, error) {
	tc := c.TowerConfig()
	tower, err := vision.NewCLIPVision(&tc)
	if err != nil {
		return nil, err
	}
	m := &Model{Tower: tower, HeadNorm: vision.NewLayerNorm(c.Width, 1e-5), Head: vision.NewLinear(c.Width, headWidth),
		ColHead: vision.NewLinear(c.Width, shapes.NumColumns), raw: c.RawHead}
	if err := weights.Randomize(c.Seed, initStd, tower, m); err != nil {
		return nil, err
	}
	g := c.ImageSize / c.PatchSize
	m.pool = tensor.New(shapes.NumColumns, g*g)
	counts := make([]int, shapes.NumColumns)
	colOf := func(px int) int {
		centre := (float64(px) + 0.5) * float64(c.PatchSize) * shapes.Size / float64(c.ImageSize)
		return min(int(centre/(shapes.Size/3.0)), shapes.NumColumns-1)
	}
	for px := 0; px < g; px++ {
		counts[colOf(px)] += g
	}
	for py := 0; py < g; py++ {
		for px := 0; px < g; px++ {
			col := colOf(px)
			m.pool.Data[col*g*g+py*g+px] = 1 / float32(counts[col])
			m.tokenCol = append(m.tokenCol, col)
		}
	}
	return m, nil
}

// Params counts the model's weights (tower and head).
func (m *Model) Params() int {
	n := 0
	_ = weights.Walk(m.Tower, func(_ string, t **tensor.Tensor, _ bool) error { n += (*t).Len(); return nil })
	return n + m.Head.Weight.Len() + m.Head.Bias.Len() + 2*m.HeadNorm.Weight.Len()
}

// patches runs the tower on pixels [N, 3, S, S] → patch tokens [N, P, D]
// of the last layer (CLS dropped, as LLaVA's "default" strategy).
func (m *Model) patches(b backend.Backend, pixels backend.Value) backend.Value {
	hidden := m.Tower.HiddenStates(b, pixels, len(m.Tower.Layers))
	last := hidden[len(hidden)-1] // [N, P+1, D]: LLaVA's vision_feature_layer -1
	p := b.Shape(last)[1] - 1
	return b.Slice(last, 1, 1, p+1) // [N, P, D]
}

// pooledLogits maps patch tokens [N, P, D] → [N·3, 9]: column means, head.
func (m *Model) pooledLogits(b backend.Backend, x backend.Value) backend.Value {
	sh := b.Shape(x)
	n, p, d := sh[0], sh[1], sh[2]
	x = b.Reshape(b.Transpose(x, 0, 2, 1), n*d, p)                     // [N·D, P]
	x = b.Linear(x, b.Const(m.pool), nil)                              // [N·D, 3] column means
	x = b.Reshape(b.Transpose(b.Reshape(x, n, d, 3), 0, 2, 1), n*3, d) // [N·3, D]
	return m.head(b, x)                                                // [N·3, 9]
}

// tokenLogits applies the same head to every patch token: [N·P, 9], each
// token asked about the column that holds it.
func (m *Model) tokenLogits(b backend.Backend, x backend.Value) backend.Value {
	sh := b.Shape(x)
	x = b.Reshape(x, sh[0]*sh[1], sh[2]) // [N·P, D]
	return m.head(b, x)                  // [N·P, 9]
}

// head maps features [R, D] to attribute logits [R, 9].
func (m *Model) head(b backend.Backend, x backend.Value) backend.Value {
	if m.raw {
		return m.Head.Forward(b, x)
	}
	return m.Head.Forward(b, m.HeadNorm.Forward(b, x))
}

// logits runs the model on pixels [N, 3, S, S] → [N·3, 9].
func (m *Model) logits(b backend.Backend, pixels backend.Value) backend.Value {
	return m.pooledLogits(b, m.patches(b, pixels))
}

// Trainer is a compiled training step for one batch size.
type Trainer struct {
	be                  *graph.Backend
	mach                *graph.Machine
	pixels              backend.Value
	lossP, lossK, lossC backend.Value
	tokP, tokK, tokC    backend.Value // per-token losses (Config.TokenHead)
	tokCol              backend.Value // per-token column identity loss
	tokenCol            []int
	loss                backend.Value
	opt                 *graph.AdamW
	batch               int
	pix                 *tensor.Tensor
}

// NewTrainer builds and compiles the training graph.
func NewTrainer(c Config, m *Model) (*Trainer, error) {
	be := graph.New(graph.Options{})
	t := &Trainer{be: be, batch: c.Batch, pix: tensor.New(c.Batch, 3, c.ImageSize, c.ImageSize)}
	t.pixels = be.Const(t.pix)
	x := m.patches(be, t.pixels)
	lg := m.pooledLogits(be, x) // [B·3, 9]
	ce := func(lg backend.Value, rows int) (p, k, c backend.Value) {
		zeros := make([]int, rows)
		p = be.CrossEntropy(be.Slice(lg, 1, 0, numPresent), zeros, ignore)
		k = be.CrossEntropy(be.Slice(lg, 1, numPresent, numPresent+numKinds), zeros, ignore)
		c = be.CrossEntropy(be.Slice(lg, 1, numPresent+numKinds, headWidth), zeros, ignore)
		return p, k, c
	}
	t.lossP, t.lossK, t.lossC = ce(lg, c.Batch*shapes.NumColumns)
	t.loss = be.Add(be.Add(t.lossP, t.lossK), t.lossC)
	if c.TokenHead {
		t.tokenCol = m.tokenCol
		t.tokP, t.tokK, t.tokC = ce(m.tokenLogits(be, x), c.Batch*len(m.tokenCol))
		t.loss = be.Add(t.loss, be.Add(be.Add(t.tokP, t.tokK), t.tokC))
		// Each token also says which column it is in, so the column is
		// content the decoder can match ("left", "where is …"), not only
		// a position.
		sh := be.Shape(x)
		colTargets := make([]int, 0, c.Batch*len(m.tokenCol))
		for i := 0; i < c.Batch; i++ {
			colTargets = append(colTargets, m.tokenCol...)
		}
		t.tokCol = be.CrossEntropy(m.ColHead.Forward(be, be.Reshape(x, sh[0]*sh[1], sh[2])), colTargets, ignore)
		t.loss = be.Add(t.loss, t.tokCol)
	}
	if err := be.Backward(t.loss); err != nil {
		return nil, err
	}
	mach, err := be.Compile()
	if err != nil {
		return nil, err
	}
	t.mach = mach
	t.opt = graph.NewAdamW(c.LR, c.WeightDecay)
	return t, nil
}

// Close frees the machine.
func (t *Trainer) Close() error { return t.mach.Close() }

// Step trains on the images idx of d with learning rate lr and returns the loss.
func (t *Trainer) Step(ctx context.Context, d *Data, idx []int, lr float64) (float32, error) {
	cols := shapes.NumColumns
	tp, tk, tc := make([]int, 0, len(idx)*cols), make([]int, 0, len(idx)*cols), make([]int, 0, len(idx)*cols)
	for i, j := range idx {
		copy(t.pix.Data[i*d.pixelLen:(i+1)*d.pixelLen], d.Pixels[j*d.pixelLen:(j+1)*d.pixelLen])
		tp = append(tp, d.Present[j*cols:(j+1)*cols]...)
		tk = append(tk, d.Kind[j*cols:(j+1)*cols]...)
		tc = append(tc, d.Colour[j*cols:(j+1)*cols]...)
	}
	if err := t.be.SetConst(t.pixels, t.pix); err != nil {
		return 0, err
	}
	for _, f := range []struct {
		loss backend.Value
		tgt  []int
	}{{t.lossP, tp}, {t.lossK, tk}, {t.lossC, tc}, {t.tokP, perToken(tp, t.tokenCol)}, {t.tokK, perToken(tk, t.tokenCol)}, {t.tokC, perToken(tc, t.tokenCol)}} {
		if f.loss == nil {
			continue
		}
		if err := t.be.SetTargets(f.loss, f.tgt); err != nil {
			return 0, err
		}
	}
	if err := t.mach.Run(ctx); err != nil {
		return 0, err
	}
	l, err := t.be.Read(t.loss)
	if err != nil {
		return 0, err
	}
	t.opt.LR = lr
	return l.Data[0], t.opt.Step(t.be.Params())
}

// perToken expands column targets [N·3] to token targets [N·P].
func perToken(colTargets, tokenCol []int) []int {
	if len(tokenCol) == 0 {
		return nil
	}
	n := len(colTargets) / shapes.NumColumns
	out := make([]int, 0, n*len(tokenCol))
	for i := 0; i < n; i++ {
		for _, c := range tokenCol {
			out = append(out, colTargets[i*shapes.NumColumns+c])
		}
	}
	return out
}

// Accuracy is held-out accuracy per attribute: present over all columns,
// kind and colour over occupied columns, Image = every column of the
// image right on all three.
type Accuracy struct {
	Present, Kind, Colour, Image float64
}

func (a Accuracy) String() string {
	return fmt.Sprintf("present %.3f kind %.3f colour %.3f image %.3f", a.Present, a.Kind, a.Colour, a.Image)
}

// Evaluate runs the model eagerly over d.
func (m *Model) Evaluate(d *Data, imageSize int) Accuracy {
	var e backend.Eager
	cols := shapes.NumColumns
	var okP, okK, okC, nK, okImg int
	for start := 0; start < d.N; start += evalBatch {
		n := min(evalBatch, d.N-start)
		px := tensor.FromData(d.Pixels[start*d.pixelLen:(start+n)*d.pixelLen], n, 3, imageSize, imageSize)
		lg := backend.T(m.logits(e, px)) // [n·3, 9]
		for i := 0; i < n; i++ {
			all := true
			for c := 0; c < cols; c++ {
				row := lg.Data[(i*cols+c)*headWidth : (i*cols+c+1)*headWidth]
				j := (start+i)*cols + c
				p := argmax(row[:numPresent])
				if p == d.Present[j] {
					okP++
				} else {
					all = false
				}
				if d.Present[j] == 1 {
					nK++
					if argmax(row[numPresent:numPresent+numKinds]) == d.Kind[j] {
						okK++
					} else {
						all = false
					}
					if argmax(row[numPresent+numKinds:]) == d.Colour[j] {
						okC++
					} else {
						all = false
					}
				}
			}
			if all {
				okImg++
			}
		}
	}
	return Accuracy{Present: float64(okP) / float64(d.N*cols), Kind: float64(okK) / float64(nK),
		Colour: float64(okC) / float64(nK), Image: float64(okImg) / float64(d.N)}
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

// Point is one measurement of a run.
type Point struct {
	Step    int      `json:"step"`
	Seconds float64  `json:"train_seconds"`     // training wall time, evaluation excluded
	CPU     float64  `json:"train_cpu_seconds"` // training CPU time (one core), evaluation excluded
	Loss    float64  `json:"loss"`              // mean training loss since the last point
	Acc     Accuracy `json:"heldout"`
}

// Run trains for the budget of training CPU time (one core with
// GOMAXPROCS=1: comparable between runs on a shared machine), evaluating
// every evalEvery of it; lr warms up over the first 5 % of the budget then follows a cosine
// to 10 % (by CPU time used, so a run of any length ends annealed).
func Run(ctx context.Context, c Config, budget, evalEvery time.Duration, report func(Point)) (*Model, []Point, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	train, err := MakeData(c, shapes.Train, c.TrainImages)
	if err != nil {
		return nil, nil, err
	}
	held, err := MakeData(c, shapes.HeldOut, c.HeldOutImages)
	if err != nil {
		return nil, nil, err
	}
	m, err := NewModel(c)
	if err != nil {
		return nil, nil, err
	}
	tr, err := NewTrainer(c, m)
	if err != nil {
		return nil, nil, err
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(c.Seed, 99))
	perm := rng.Perm(train.N)
	pos := 0
	var points []Point
	var elapsed, cpu time.Duration
	nextEval := evalEvery
	var lossSum float64
	lossN := 0
	for step := 1; ; step++ {
		if err := ctx.Err(); err != nil {
			return m, points, err
		}
		idx := make([]int, c.Batch)
		for i := range idx {
			if pos == len(perm) {
				perm, pos = rng.Perm(train.N), 0
			}
			idx[i], pos = perm[pos], pos+1
		}
		frac := cpu.Seconds() / budget.Seconds()
		lr := c.LR * schedule(frac)
		t0, c0 := time.Now(), cpuTime()
		l, err := tr.Step(ctx, train, idx, lr)
		if err != nil {
			return m, points, err
		}
		elapsed += time.Since(t0)
		cpu += cpuTime() - c0
		lossSum += float64(l)
		lossN++
		if cpu >= nextEval || cpu >= budget {
			p := Point{Step: step, Seconds: elapsed.Seconds(), CPU: cpu.Seconds(), Loss: lossSum / float64(lossN), Acc: m.Evaluate(held, c.ImageSize)}
			lossSum, lossN = 0, 0
			points = append(points, p)
			if report != nil {
				report(p)
			}
			nextEval += evalEvery
		}
		if cpu >= budget {
			return m, points, nil
		}
	}
}

// schedule is the lr multiplier at fraction f of the budget.
func schedule(f float64) float64 {
	const warm, floor = 0.05, 0.1
	if f < warm {
		return f / warm
	}
	f = min(1, (f-warm)/(1-warm))
	return floor + (1-floor)*0.5*(1+math.Cos(math.Pi*f))
}
