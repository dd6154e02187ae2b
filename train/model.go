package train

import (
	"context"
	"fmt"
	stdimage "image"
	"math/bits"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// Checkpoint-name prefixes of the groups.
const (
	llavaVisionPrefix  = "vision_tower."
	mllamaVisionPrefix = "vision_model."
	projectorPrefix    = "multi_modal_projector."
	textPrefix         = "language_model."
	textLayersPrefix   = "language_model.model.layers."
)

// padID fills padded positions (any id of the table: causal attention
// keeps pads from touching real rows, and their labels are ignored).
const padID = 0

// example is one tokenized row: ids and labels of equal length
// (LLaVA image placeholders expanded to one id per image token).
type example struct {
	line   int
	id     string
	ids    []int
	labels []int
	images []string
}

// targets counts the positions t whose next token is a target.
func (e *example) targets() int {
	n := 0
	for t := 1; t < len(e.labels); t++ {
		if e.labels[t] != IgnoreIndex {
			n++
		}
	}
	return n
}

// bucket is the static shape of one compiled graph.
type bucket struct {
	stage, tokens, slots, rows int
}

// stepGraph is one compiled training graph, reused for every batch of its
// bucket: only its inputs are rebound.
type stepGraph struct {
	g      *graph.Backend
	m      *graph.Machine
	ids    backend.Value // Embedding output (SetIDs)
	splice backend.Value // LLaVA: GatherRows placing text and image rows
	feats  backend.Value // Const: image features or pixels
	masks  crossattn.TrainInputs
	vmask  backend.Value   // Mllama vision attention mask (vision training)
	tileID []backend.Value // Mllama tile-embedding lookups (vision training)
	rows   backend.Value   // GatherRows of the positions with a target
	logits backend.Value   // [R, V]
	loss   backend.Value
	params []graph.Param
	// rep, with Config.Replicas > 1, runs shards (one stepGraph per
	// replica, m unset) side by side (train/replicas.go).
	rep    *graph.Replicas
	shards []*stepGraph
}

// batch is the data of one micro-batch, laid out for a bucket.
type batch struct {
	ids, splice, rows, targets []int
	feats                      *tensor.Tensor
	masks                      *crossattn.TrainMasks
	vmask                      *tensor.Tensor
	aspect                     []int // aspect ratio id per image slot
	tokens, ntargets           int
	shards                     []*batch // with replicas: one per shard (and the totals above)
}

// arch adapts one fusion style to the trainer.
type arch interface {
	// group names the group of a checkpoint tensor.
	group(name string) Group
	// imageInput computes (or reads from the cache) what the graph needs
	// for one image: frozen-encoder features, or pixels when the vision
	// group trains.
	imageInput(ctx context.Context, path string, visionTrains bool) (*imageData, error)
	// build makes the graph of a bucket for batch size B.
	build(g *graph.Backend, k bucket, bsz int, visionTrains bool) (*stepGraph, error)
	// layout fills a batch for bucket k.
	layout(exs []*example, imgs [][]*imageData, k bucket, bsz int, visionTrains bool) (*batch, error)
	// slots is the number of image slots a batch needs.
	slots(exs []*example) int
	// expand turns rendered ids into the decoder sequence.
	expand(ids, labels []int) ([]int, []int)
}

// imageData is one image's cached input.
type imageData struct {
	x        *tensor.Tensor // features or pixels, without the batch dims
	numTiles int            // Mllama: real tiles
	aspectID int            // Mllama: aspect ratio id (1-based)
	tileMask []int          // Mllama: aspect ratio mask [tiles]
}

func pow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// bucketTokens rounds a length up to the next of 16, 24, 32, 48, 64, 96, …
// (at most maxLen).
func bucketTokens(n, maxLen int) int {
	for b := 16; ; b *= 2 {
		for _, c := range []int{b, b * 3 / 2} {
			if c >= n {
				return min(c, max(maxLen, n))
			}
		}
	}
}

// bucketRows rounds the number of target rows up to a power of two (at
// least 8, at most the batch's positions).
func bucketRows(n, positions int) int { return min(max(8, pow2(n)), positions) }

// ---- LLaVA ----

type llavaArch struct {
	p        fovea.Parts
	model    *fovea.Model
	cache    map[string]*imageData
	computed int // images encoded (each once)
}

func (a *llavaArch) group(name string) Group {
	switch {
	case strings.HasPrefix(name, llavaVisionPrefix):
		return Vision
	case strings.HasPrefix(name, projectorPrefix):
		return Projector
	}
	return Decoder
}

func (a *llavaArch) expand(ids, labels []int) ([]int, []int) {
	var oi, ol []int
	for i, id := range ids {
		n := 1
		if id == a.p.ImageToken {
			n = a.p.ImageTokens
		}
		for range n {
			oi, ol = append(oi, id), append(ol, labels[i])
		}
	}
	return oi, ol
}

func (a *llavaArch) slots(exs []*example) int {
	n := 0
	for _, e := range exs {
		n += len(e.images)
	}
	return pow2(max(1, n))
}

func (a *llavaArch) imageInput(ctx context.Context, path string, visionTrains bool) (*imageData, error) {
	return cachedImage(a.cache, a.model, path, visionTrains, func(px *fovea.Pixels) (*imageData, error) {
		if visionTrains {
			return &imageData{x: px.Values.Reshape(px.Values.Shape[1:]...)}, nil // [3, S, S]
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := backend.Eager{}
		hidden := a.p.CLIP.HiddenStates(e, e.Const(px.Values), a.p.ProjectorConfig.MaxLayer())
		feat, err := projector.SelectFeatures(e, hidden, a.p.ProjectorConfig) // [1, P, F]
		if err != nil {
			return nil, err
		}
		f := backend.T(feat)
		a.computed++
		return &imageData{x: f.Reshape(f.Shape[1:]...).Clone()}, nil // [P, F]
	})
}

// cachedImage returns path's entry of cache (one per image and per
// visionTrains setting), else loads and preprocesses the image once and
// keeps what build makes of its pixels.
func cachedImage(cache map[string]*imageData, m *fovea.Model, path string, visionTrains bool, build func(px *fovea.Pixels) (*imageData, error)) (*imageData, error) {
	key := strconv.FormatBool(visionTrains) + ":" + path
	if d, ok := cache[key]; ok {
		return d, nil
	}
	img, err := fovea.LoadImage(path)
	if err != nil {
		return nil, err
	}
	px, err := m.PreprocessImages([]stdimage.Image{img})
	if err != nil {
		return nil, err
	}
	d, err := build(px)
	if err != nil {
		return nil, err
	}
	cache[key] = d
	return d, nil
}

func (a *llavaArch) featShape(k bucket, visionTrains bool) []int {
	if visionTrains {
		c := a.p.CLIP.Config()
		return []int{k.slots, c.NumChannels, c.ImageSize, c.ImageSize}
	}
	return []int{k.slots, a.p.ImageTokens, a.featWidth()}
}

func (a *llavaArch) featWidth() int {
	return a.p.CLIP.Config().HiddenSize * len(a.p.ProjectorConfig.FeatureLayers)
}

func (a *llavaArch) build(g *graph.Backend, k bucket, bsz int, visionTrains bool) (*stepGraph, error) {
	dec := a.p.Decoder
	d := dec.Config().HiddenSize
	n := bsz * k.tokens
	sg := &stepGraph{g: g}
	sg.ids = g.Embedding(g.Weight(dec.EmbedTokens), make([]int, n)) // [B·T, D]
	sg.feats = g.Const(tensor.New(a.featShape(k, visionTrains)...))
	feat := sg.feats
	if visionTrains {
		hidden := a.p.CLIP.HiddenStates(g, feat, a.p.ProjectorConfig.MaxLayer())
		f, err := projector.SelectFeatures(g, hidden, a.p.ProjectorConfig) // [S, P, F]
		if err != nil {
			return nil, err
		}
		feat = f
	}
	img := g.Reshape(a.p.Projector.Forward(g, feat), k.slots*a.p.ImageTokens, d) // [S·P, D]
	all := g.Concat(0, sg.ids, img)                                              // [B·T + S·P, D]
	sg.splice = g.GatherRows(all, make([]int, n))                                // [B·T, D]
	x := g.Reshape(sg.splice, bsz, k.tokens, d)                                  // [B, T, D]
	return finishGraph(sg, dec, x, k, bsz, nil)
}

// finishGraph runs the decoder on x [B, T, D], keeps the target rows and
// applies the LM head and the loss; compile (one graph) or
// graph.NewReplicas (train/replicas.go) adds the gradients and compiles.
func finishGraph(sg *stepGraph, dec *decoder.Model, x backend.Value, k bucket, bsz int, fill func(*decoder.State) error) (*stepGraph, error) {
	g := sg.g
	st := dec.NewTrainState(bsz)
	if fill != nil {
		if err := fill(st); err != nil {
			return nil, err
		}
	}
	h, err := dec.Hidden(g, x, st) // [B, T, D]
	if err != nil {
		return nil, err
	}
	d := dec.Config().HiddenSize
	sg.rows = g.GatherRows(g.Reshape(h, bsz*k.tokens, d), make([]int, k.rows)) // [R, D]
	sg.logits = dec.Logits(g, sg.rows)                                         // [R, V]
	targets := make([]int, k.rows)
	for i := range targets {
		targets[i] = IgnoreIndex
	}
	sg.loss = g.CrossEntropy(sg.logits, targets, IgnoreIndex)
	sg.params = g.Params()
	return sg, nil
}

// compile adds the gradients of the loss (when anything trains) and
// compiles the graph.
func (sg *stepGraph) compile() error {
	if len(sg.params) > 0 {
		if err := sg.g.Backward(sg.loss); err != nil {
			return err
		}
	}
	m, err := sg.g.Compile()
	if err != nil {
		return err
	}
	sg.m = m
	return nil
}

// layoutText fills ids, target rows and targets of a batch.
func layoutText(exs []*example, k bucket, bsz int, imageToken int) *batch {
	n := bsz * k.tokens
	bt := &batch{ids: make([]int, n), rows: make([]int, k.rows), targets: make([]int, k.rows)}
	for i := range bt.targets {
		bt.targets[i] = IgnoreIndex
	}
	r := 0
	for b, e := range exs {
		for t, id := range e.ids {
			if id == imageToken && imageToken >= 0 {
				id = padID // overwritten by the splice (LLaVA)
			}
			bt.ids[b*k.tokens+t] = id
			if t+1 < len(e.labels) && e.labels[t+1] != IgnoreIndex {
				bt.rows[r], bt.targets[r] = b*k.tokens+t, e.labels[t+1]
				r++
			}
		}
		bt.tokens += len(e.ids)
	}
	bt.ntargets = r
	return bt
}

func (a *llavaArch) layout(exs []*example, imgs [][]*imageData, k bucket, bsz int, _ bool) (*batch, error) {
	bt := layoutText(exs, k, bsz, a.p.ImageToken)
	n := bsz * k.tokens
	bt.splice = make([]int, n)
	for i := range bt.splice {
		bt.splice[i] = i
	}
	var shape []int
	slot := 0
	var feats *tensor.Tensor
	for b, e := range exs {
		next := 0 // next image row of this sequence
		for t, id := range e.ids {
			if id == a.p.ImageToken {
				img := next / a.p.ImageTokens
				bt.splice[b*k.tokens+t] = n + (slot+img)*a.p.ImageTokens + next%a.p.ImageTokens
				next++
			}
		}
		for _, im := range imgs[b] {
			if feats == nil {
				shape = append([]int{k.slots}, im.x.Shape...)
				feats = tensor.New(shape...)
			}
			per := im.x.Len()
			copy(feats.Data[slot*per:(slot+1)*per], im.x.Data)
			slot++
		}
	}
	if slot > k.slots {
		return nil, fmt.Errorf("train: %d images for %d slots", slot, k.slots)
	}
	bt.feats = feats
	return bt, nil
}

// ---- Mllama ----

type mllamaArch struct {
	p        fovea.Parts
	model    *fovea.Model
	cross    map[int]bool
	cache    map[string]*imageData
	computed int // images encoded (each once)
}

func (a *mllamaArch) group(name string) Group {
	switch {
	case strings.HasPrefix(name, mllamaVisionPrefix):
		return Vision
	case strings.HasPrefix(name, projectorPrefix):
		return Projector
	case strings.HasPrefix(name, textLayersPrefix):
		rest := strings.TrimPrefix(name, textLayersPrefix)
		if i, err := strconv.Atoi(rest[:max(0, strings.IndexByte(rest, '.'))]); err == nil && a.cross[i] {
			return CrossAttn
		}
	}
	return Decoder
}

func (a *mllamaArch) expand(ids, labels []int) ([]int, []int) { return ids, labels }

func (a *mllamaArch) slots(exs []*example) int {
	n := 0
	for _, e := range exs {
		n = max(n, len(e.images))
	}
	return pow2(max(1, n))
}

func (a *mllamaArch) imageInput(ctx context.Context, path string, visionTrains bool) (*imageData, error) {
	return cachedImage(a.cache, a.model, path, visionTrains, func(px *fovea.Pixels) (*imageData, error) {
		in := px.Mllama
		if in == nil {
			return nil, fmt.Errorf("train: Mllama preprocessing gave no aspect ratio inputs")
		}
		vin := &vision.MllamaVisionInput{Pixels: px.Values, AspectRatioIDs: in.AspectRatioIDs, AspectRatioMask: in.AspectRatioMask}
		if err := a.p.MllamaVision.CheckInput(vin); err != nil {
			return nil, err
		}
		d := &imageData{aspectID: in.AspectRatioIDs[0][0], tileMask: in.AspectRatioMask[0][0]}
		for _, v := range d.tileMask {
			d.numTiles += v
		}
		if in.NumTiles != nil {
			d.numTiles = in.NumTiles[0][0]
		}
		if visionTrains {
			d.x = px.Values.Reshape(px.Values.Shape[2:]...) // [tiles, C, S, S]
		} else {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			out := backend.T(a.p.MllamaVision.Forward(backend.Eager{}, vin).Output) // [1, 1, tiles, P+1, Dv]
			d.x = out.Reshape(out.Shape[2:]...).Clone()                             // [tiles, P+1, Dv]
			a.computed++
		}
		return d, nil
	})
}

// imageShape is one image's cached vision output [tiles, P+1, Dv].
func (a *mllamaArch) imageShape() []int {
	c := a.p.MllamaVision.Config()
	return []int{c.MaxNumTiles, a.p.MllamaVision.TileTokens(), c.VisionOutputDim}
}

// pixelShape is one image's pixels [tiles, C, S, S].
func (a *mllamaArch) pixelShape() []int {
	c := a.p.MllamaVision.Config()
	return []int{c.MaxNumTiles, c.NumChannels, c.ImageSize, c.ImageSize}
}

func (a *mllamaArch) build(g *graph.Backend, k bucket, bsz int, visionTrains bool) (*stepGraph, error) {
	dec := a.p.Decoder
	d := dec.Config().HiddenSize
	sg := &stepGraph{g: g}
	sg.ids = g.Embedding(g.Weight(dec.EmbedTokens), make([]int, bsz*k.tokens)) // [B·T, D]
	x := g.Reshape(sg.ids, bsz, k.tokens, d)                                   // [B, T, D]
	is := a.imageShape()
	var vis backend.Value
	if visionTrains {
		sg.feats = g.Const(tensor.New(append([]int{bsz, k.slots}, a.pixelShape()...)...)) // [B, S, tiles, C, S, S]
		l := is[0] * a.paddedTokens()
		sg.vmask = g.Const(tensor.New(bsz*k.slots, 1, l, l))
		tower := a.p.MllamaVision
		out, err := tower.ForwardValues(g, sg.feats, make([]int, bsz*k.slots), sg.vmask)
		if err != nil {
			return nil, err
		}
		vis = out.Output // [B, S, tiles, P+1, Dv]
		// The tile embeddings look up the aspect ratio ids: rebound per batch.
		for _, table := range []*tensor.Tensor{tower.PreTileEmbedding.Embedding, tower.PositionEmbedding.TileEmbedding, tower.PostTileEmbedding.Embedding} {
			sg.tileID = append(sg.tileID, g.EmbeddingsOf(g.Weight(table))...)
		}
	} else {
		sg.feats = g.Const(tensor.New(append([]int{bsz, k.slots}, is...)...)) // [B, S, tiles, P+1, Dv]
		vis = sg.feats
	}
	states := a.p.MllamaProjector.Forward(g, vis) // [B, S·tiles·(P+1), D]
	nv := k.slots * is[0] * is[1]
	sg.masks = crossattn.TrainInputs{
		Mask: g.Const(tensor.New(bsz, 1, k.tokens, nv)), Rows: g.Const(tensor.New(bsz, k.tokens, 1)),
		AttnRows: g.Const(tensor.New(bsz, k.tokens, 1)),
	}
	return finishGraph(sg, dec, x, k, bsz, func(st *decoder.State) error {
		return crossattn.SetTrainImages(g, dec, st, states, sg.masks)
	})
}

// paddedTokens is the vision encoder's tokens per tile after padding (the
// attention mask's tile stride).
func (a *mllamaArch) paddedTokens() int {
	c := a.p.MllamaVision.Config()
	return c.PaddedTileTokens()
}

func (a *mllamaArch) layout(exs []*example, imgs [][]*imageData, k bucket, bsz int, visionTrains bool) (*batch, error) {
	bt := layoutText(exs, k, bsz, -1)
	is := a.imageShape()
	one := is
	if visionTrains { // the vision encoder trains: pixels, its mask and the aspect ratio ids
		one = a.pixelShape()
		bt.aspect = make([]int, bsz*k.slots)
		for b, row := range imgs {
			for i, im := range row {
				bt.aspect[b*k.slots+i] = im.aspectID
			}
		}
		tileMasks := make([][][]int, bsz)
		for b := range tileMasks {
			tileMasks[b] = make([][]int, k.slots)
			for i := range tileMasks[b] {
				tileMasks[b][i] = make([]int, is[0])
				if b < len(imgs) && i < len(imgs[b]) {
					copy(tileMasks[b][i], imgs[b][i].tileMask)
				}
			}
		}
		bt.vmask = vision.MllamaAspectRatioMask(tileMasks, a.p.MllamaVision.TileTokens(), a.paddedTokens())
	}
	per := tensor.Numel(one)
	bt.feats = tensor.New(append([]int{bsz, k.slots}, one...)...)
	masks := make([]*crossattn.TokenMask, bsz)
	for b, e := range exs {
		if len(imgs[b]) == 0 {
			continue
		}
		nt := make([]int, len(imgs[b]))
		for i, im := range imgs[b] {
			copy(bt.feats.Data[(b*k.slots+i)*per:(b*k.slots+i+1)*per], im.x.Data)
			nt[i] = im.numTiles
		}
		ids := make([]int, k.tokens)
		copy(ids, e.ids)
		tm, err := crossattn.BuildTokenMask([][]int{ids}, a.p.ImageToken, [][]int{nt}, is[0])
		if err != nil {
			return nil, err
		}
		masks[b] = tm
	}
	m, err := crossattn.BatchMasks(masks, k.tokens, k.slots, is[0], is[1], false)
	if err != nil {
		return nil, err
	}
	bt.masks = m
	return bt, nil
}

// bind rebinds a compiled graph's inputs to a batch.
func (sg *stepGraph) bind(bt *batch) error {
	if sg.rep != nil {
		return sg.bindShards(bt)
	}
	g := sg.g
	if err := g.SetIDs(sg.ids, bt.ids); err != nil {
		return err
	}
	if sg.splice != nil {
		if err := g.SetRows(sg.splice, bt.splice); err != nil {
			return err
		}
	}
	if bt.feats != nil {
		if err := g.SetConst(sg.feats, bt.feats); err != nil {
			return err
		}
	} else if err := g.SetConst(sg.feats, tensor.New(g.Shape(sg.feats)...)); err != nil {
		return err
	}
	if sg.vmask != nil {
		if err := g.SetConst(sg.vmask, bt.vmask); err != nil {
			return err
		}
		for _, v := range sg.tileID {
			if err := g.SetIDs(v, bt.aspect); err != nil {
				return err
			}
		}
	}
	if bt.masks != nil {
		for _, p := range []struct {
			v backend.Value
			t *tensor.Tensor
		}{{sg.masks.Mask, bt.masks.Mask}, {sg.masks.Rows, bt.masks.Rows}, {sg.masks.AttnRows, bt.masks.AttnRows}} {
			if err := g.SetConst(p.v, p.t); err != nil {
				return err
			}
		}
	}
	if err := g.SetRows(sg.rows, bt.rows); err != nil {
		return err
	}
	return g.SetTargets(sg.loss, bt.targets)
}
