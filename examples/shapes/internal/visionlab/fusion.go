package visionlab

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/tokenizer"
	"github.com/fovea-ml/fovea/vision"
)

// FusionConfig is the unified-style (LLaVA) stage on frozen image
// features: an MLP projector and a small Llama decoder trained together on
// the question rows, the image's patch tokens spliced in where "<image>"
// stands in the LLaVA-1.5 prompt.
type FusionConfig struct {
	Width, Layers, Heads, KVHeads, MLP int
	Batch                              int
	LR                                 float64
	EvalImages                         int // held-out images whose rows are decoded
	// Turns > 1 packs up to Turns questions of one image, in random order,
	// into one multi-turn conversation: the image tokens are paid once
	// for several answers.
	Turns int
	Show  int // wrong answers to print
	Seed  uint64
	// DescribeLast puts a packed conversation's caption question last.
	DescribeLast bool
	// Log receives progress lines and wrong answers (nil: discarded).
	Log io.Writer
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (fc FusionConfig) log() io.Writer {
	if fc.Log == nil {
		return io.Discard
	}
	return fc.Log
}

// Special tokens of the lab's tokenizer.
var labSpecials = []string{"<|begin_of_text|>", "<|end_of_text|>", "<image>", "<|pad|>"}

const (
	labBOS, labEOS, labImage, labPad = 0, 1, 2, 3
	// maxAnswerTokens bounds greedy decoding (a caption is ≤ 25 tokens).
	maxAnswerTokens = 40
)

// Features are frozen tower outputs: [N, P, Dv] patch tokens per image.
type Features struct {
	N, P, D int
	Data    []float32
}

// ComputeFeatures runs the tower once over d (eager) and keeps the last
// layer's patch tokens (CLS dropped: LLaVA's "default" strategy).
func (m *Model) ComputeFeatures(d *Data, imageSize int) *Features {
	var e backend.Eager
	f := &Features{N: d.N}
	for start := 0; start < d.N; start += evalBatch {
		n := min(evalBatch, d.N-start)
		px := tensor.FromData(d.Pixels[start*d.pixelLen:(start+n)*d.pixelLen], n, 3, imageSize, imageSize)
		h := m.Tower.HiddenStates(e, px, len(m.Tower.Layers))
		last := backend.T(h[len(h)-1]) // [n, P+1, D]
		p, dd := last.Shape[1]-1, last.Shape[2]
		f.P, f.D = p, dd
		for i := 0; i < n; i++ {
			f.Data = append(f.Data, last.Data[(i*(p+1)+1)*dd:(i+1)*(p+1)*dd]...)
		}
	}
	return f
}

// row is one question about image Img, tokenized: prefix (before the image),
// the prompt after it, and the answer with EOS.
type row struct {
	Img          int
	Type         shapes.QuestionType
	Prompt, Ans  []int
	Follow       []int // the question as a later turn: "USER: {q} ASSISTANT:"
	AnswerString string
}

// Fusion is the projector and decoder.
type Fusion struct {
	Proj1, Proj2 vision.Linear
	Dec          *decoder.Model
	tok          *tokenizer.Tokenizer
	prefix       []int
	Show         int // print this many wrong answers
	log          io.Writer
}

// buildRows tokenizes every question of the scenes.
func buildRows(tok *tokenizer.Tokenizer, scenes []shapes.Scene) ([]int, []row, error) {
	var prefix []int
	var rows []row
	for i, sc := range scenes {
		for _, q := range sc.Questions() {
			text, err := tokenizer.Llava15.Format(q.Question, 1)
			if err != nil {
				return nil, nil, err
			}
			ids := append([]int{labBOS}, tok.Encode(text, tokenizer.WithParseSpecial(true))...)
			at := -1
			for j, id := range ids {
				if id == labImage {
					at = j
				}
			}
			if at < 0 {
				return nil, nil, fmt.Errorf("no image token in %q", text)
			}
			prefix = ids[:at]
			ans := append(tok.Encode(" "+q.Answer), labEOS)
			follow := tok.Encode("USER: "+q.Question+" ASSISTANT:", tokenizer.WithParseSpecial(true))
			rows = append(rows, row{Img: i, Type: q.Type, Prompt: ids[at+1:], Follow: follow, Ans: ans, AnswerString: q.Answer})
		}
	}
	return prefix, rows, nil
}

// FusionPoint is one measurement.
type FusionPoint struct {
	Step    int                             `json:"step"`
	Seconds float64                         `json:"train_seconds"`
	CPU     float64                         `json:"train_cpu_seconds"`
	Loss    float64                         `json:"loss"`
	Acc     float64                         `json:"heldout_exact_match"`
	PerType map[shapes.QuestionType]float64 `json:"per_type"`
	EvalSec float64                         `json:"eval_seconds"`
}

// RunFusion trains projector + decoder on frozen features for budget
// (training CPU time, as Run) and reports held-out exact match (greedy decoding) every evalEvery.
func RunFusion(ctx context.Context, vc Config, fc FusionConfig, tower *Model, budget, evalEvery time.Duration, report func(FusionPoint)) error {
	trainScenes, err := shapes.Scenes(vc.Seed, shapes.Train, vc.TrainImages)
	if err != nil {
		return err
	}
	heldScenes, err := shapes.Scenes(vc.Seed, shapes.HeldOut, fc.EvalImages)
	if err != nil {
		return err
	}
	var corpus []string
	for _, sc := range trainScenes[:min(500, len(trainScenes))] {
		for _, q := range sc.Questions() {
			t, _ := tokenizer.Llava15.Format(q.Question, 1)
			corpus = append(corpus, t+" "+q.Answer)
		}
	}
	tok, err := tokenizer.Train(ctx, corpus, tokenizer.TrainConfig{VocabSize: 512, SpecialTokens: labSpecials, MinFrequency: 2})
	if err != nil {
		return err
	}
	prefix, trainRows, err := buildRows(tok, trainScenes)
	if err != nil {
		return err
	}
	_, heldRows, err := buildRows(tok, heldScenes)
	if err != nil {
		return err
	}
	trainData, err := MakeData(vc, shapes.Train, vc.TrainImages)
	if err != nil {
		return err
	}
	heldData, err := MakeData(vc, shapes.HeldOut, fc.EvalImages)
	if err != nil {
		return err
	}
	t0 := time.Now()
	trainF, heldF := tower.ComputeFeatures(trainData, vc.ImageSize), tower.ComputeFeatures(heldData, vc.ImageSize)
	featSec := time.Since(t0).Seconds()
	fmt.Fprintf(fc.log(), "features: %d train + %d held-out images once, %.1fs; vocab %d, %d train rows\n", trainF.N, heldF.N, featSec, tok.VocabSize(), len(trainRows))

	fu, err := newFusion(fc, tok, prefix, trainF.D)
	if err != nil {
		return err
	}

	// Single turn: two static length buckets, captions (long answers) and
	// the rest, so short rows are not padded to caption length. Multi-turn:
	// one bucket of per-image conversations.
	var short, long [][]row
	if fc.Turns > 1 {
		byImg := make([][]row, len(trainScenes))
		for _, r := range trainRows {
			byImg[r.Img] = append(byImg[r.Img], r)
		}
		short = byImg
	} else {
		for _, r := range trainRows {
			if r.Type == shapes.Describe {
				long = append(long, []row{r})
			} else {
				short = append(short, []row{r})
			}
		}
	}
	turns := max(1, fc.Turns)
	var buckets []*bucket
	for _, cs := range [][][]row{short, long} {
		if len(cs) == 0 {
			continue
		}
		bk, err := fu.newBucket(fc.Batch, convLen(cs, turns), trainF, cs, turns)
		if err != nil {
			return err
		}
		defer bk.mach.Close()
		bk.describeLast = fc.DescribeLast
		buckets = append(buckets, bk)
	}
	shortRows := 0
	for _, c := range short {
		shortRows += len(c)
	}
	opt := graph.NewAdamW(fc.LR, 0)
	rng := rand.New(rand.NewPCG(fc.Seed, 7))
	var elapsed, cpu time.Duration
	next := evalEvery
	var lossSum float64
	lossN := 0
	for step := 1; ; step++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// A bucket with probability proportional to its rows: every row
		// is equally likely, as with one bucket.
		bk := buckets[0]
		if len(buckets) > 1 && rng.IntN(len(trainRows)) >= shortRows {
			bk = buckets[1]
		}
		start, c0 := time.Now(), cpuTime()
		if err := bk.fill(rng, trainF); err != nil {
			return err
		}
		be, loss := bk.be, bk.loss
		if err := bk.mach.Run(ctx); err != nil {
			return err
		}
		lv, err := be.Read(loss)
		if err != nil {
			return err
		}
		opt.LR = fc.LR * schedule(cpu.Seconds()/budget.Seconds())
		if err := opt.Step(be.Params()); err != nil { // weights shared by both buckets; moments per tensor
			return err
		}
		elapsed += time.Since(start)
		cpu += cpuTime() - c0
		lossSum += float64(lv.Data[0])
		lossN++
		if cpu >= next || cpu >= budget {
			es := time.Now()
			acc, per, err := fu.evaluate(ctx, heldF, heldRows)
			if err != nil {
				return err
			}
			report(FusionPoint{Step: step, Seconds: elapsed.Seconds(), CPU: cpu.Seconds(), Loss: lossSum / float64(lossN), Acc: acc, PerType: per, EvalSec: time.Since(es).Seconds()})
			lossSum, lossN = 0, 0
			next += evalEvery
		}
		if cpu >= budget {
			return nil
		}
	}
}

// project is LLaVA's projector: linear_2(gelu(linear_1(x))).
func (f *Fusion) project(b backend.Backend, x backend.Value) backend.Value {
	return f.Proj2.Forward(b, b.Activation(f.Proj1.Forward(b, x), backend.ActGELU))
}

// evaluate decodes every held-out row greedily and scores exact match.
func (f *Fusion) evaluate(ctx context.Context, feats *Features, rows []row) (float64, map[shapes.QuestionType]float64, error) {
	var e backend.Eager
	right, n := map[shapes.QuestionType]int{}, map[shapes.QuestionType]int{}
	total := 0
	for _, r := range rows {
		pre, err := f.Dec.Embed(e, [][]int{f.prefix})
		if err != nil {
			return 0, nil, err
		}
		post, err := f.Dec.Embed(e, [][]int{r.Prompt})
		if err != nil {
			return 0, nil, err
		}
		ft := tensor.FromData(feats.Data[r.Img*feats.P*feats.D:(r.Img+1)*feats.P*feats.D], 1, feats.P, feats.D)
		x := e.Concat(1, pre, f.project(e, ft), post)
		var gen []int
		for id, err := range f.Dec.Generate(ctx, e, f.Dec.NewState(1), x, decoder.GenerateOptions{MaxNewTokens: maxAnswerTokens, StopTokens: []int{labEOS}}) {
			if err != nil {
				return 0, nil, err
			}
			if id == labEOS {
				break
			}
			gen = append(gen, id)
		}
		text, err := f.tok.Decode(gen)
		if err != nil {
			return 0, nil, err
		}
		n[r.Type]++
		if shapes.Match(strings.TrimSpace(text), r.AnswerString) {
			right[r.Type]++
			total++
		} else if f.Show > 0 {
			f.Show--
			q, _ := f.tok.Decode(r.Prompt)
			fmt.Fprintf(f.log, "wrong: image %d %q → %q, want %q\n", r.Img, q, text, r.AnswerString)
		}
	}
	per := map[shapes.QuestionType]float64{}
	for k, v := range n {
		per[k] = float64(right[k]) / float64(v)
	}
	return float64(total) / float64(len(rows)), per, nil
}

// bucket is a compiled training step for rows whose prompt-after-image
// plus answer fits l2 tokens.
type bucket struct {
	be            *graph.Backend
	mach          *graph.Machine
	convs         [][]row
	turns         int
	describeLast  bool
	b, l2, t, pre int
	feat          *tensor.Tensor
	featV, sufIDs backend.Value
	loss          backend.Value
	ids, targets  []int
}

// convLen is the longest conversation of at most turns rows: the first
// row's prompt, later rows' follow-ups, every answer.
func convLen(convs [][]row, turns int) int {
	l := 0
	for _, c := range convs {
		var segs []int
		first := math.MinInt
		for _, r := range c {
			segs = append(segs, len(r.Follow)+len(r.Ans))
			first = max(first, len(r.Prompt)-len(r.Follow))
		}
		slices.Sort(segs)
		slices.Reverse(segs)
		n := first
		for _, s := range segs[:min(turns, len(segs))] {
			n += s
		}
		l = max(l, n)
	}
	return l
}

func (f *Fusion) newBucket(b, l2 int, feats *Features, convs [][]row, turns int) (*bucket, error) {
	be := graph.New(graph.Options{})
	pre := make([][]int, b)
	for i := range pre {
		pre[i] = f.prefix
	}
	preE, err := f.Dec.Embed(be, pre) // [B, T1, D], constant
	if err != nil {
		return nil, err
	}
	w := f.Dec.Config().HiddenSize
	bk := &bucket{be: be, convs: convs, turns: turns, b: b, l2: l2, pre: len(f.prefix), feat: tensor.New(b, feats.P, feats.D)}
	bk.t = len(f.prefix) + feats.P + l2
	// The suffix ids change every step: keep the Embedding node itself
	// (SetIDs rebinds it), reshaped as decoder.Embed does.
	bk.sufIDs = be.Embedding(be.Weight(f.Dec.EmbedTokens), make([]int, b*l2)) // [B·L2, D]
	sufE := be.Reshape(bk.sufIDs, b, l2, w)                                   // [B, L2, D]
	bk.featV = be.Const(bk.feat)
	img := f.project(be, bk.featV)                              // [B, P, D]
	x := be.Concat(1, preE, img, sufE)                          // [B, T, D]
	logits, err := f.Dec.Forward(be, x, f.Dec.NewTrainState(b)) // [B, T, V]
	if err != nil {
		return nil, err
	}
	bk.targets = make([]int, b*bk.t)
	bk.ids = make([]int, b*l2)
	bk.loss = be.CrossEntropy(logits, bk.targets, ignore)
	if err := be.Backward(bk.loss); err != nil {
		return nil, err
	}
	if bk.mach, err = be.Compile(); err != nil {
		return nil, err
	}
	return bk, nil
}

// fill draws a batch of the bucket's rows and binds features, ids and
// targets (loss on the answer tokens and EOS only).
func (bk *bucket) fill(rng *rand.Rand, feats *Features) error {
	for i := range bk.targets {
		bk.targets[i] = ignore
	}
	fd := feats.P * feats.D
	for i := 0; i < bk.b; i++ {
		conv := bk.convs[rng.IntN(len(bk.convs))]
		pick := rng.Perm(len(conv))[:min(bk.turns, len(conv))]
		if bk.describeLast {
			// The caption names every shape: a later turn could copy
			// its answer from it instead of reading the image.
			slices.SortStableFunc(pick, func(a, b int) int {
				return boolInt(conv[a].Type == shapes.Describe) - boolInt(conv[b].Type == shapes.Describe)
			})
		}
		copy(bk.feat.Data[i*fd:(i+1)*fd], feats.Data[conv[0].Img*fd:(conv[0].Img+1)*fd])
		var seq []int
		var isAns []bool
		for k, j := range pick {
			r := conv[j]
			q := r.Follow
			if k == 0 {
				q = r.Prompt
			}
			seq = append(seq, q...)
			isAns = append(isAns, make([]bool, len(q))...)
			seq = append(seq, r.Ans...)
			for range r.Ans {
				isAns = append(isAns, true)
			}
		}
		for j := 0; j < bk.l2; j++ {
			id := labPad
			if j < len(seq) {
				id = seq[j]
			}
			bk.ids[i*bk.l2+j] = id
		}
		// Logits at position g predict token g+1: each answer token (and
		// its EOS) is the target of the position before it.
		base := i*bk.t + bk.pre + feats.P
		for j := 1; j < len(seq); j++ {
			if isAns[j] {
				bk.targets[base+j-1] = seq[j]
			}
		}
	}
	if err := bk.be.SetConst(bk.featV, bk.feat); err != nil {
		return err
	}
	if err := bk.be.SetIDs(bk.sufIDs, bk.ids); err != nil {
		return err
	}
	return bk.be.SetTargets(bk.loss, bk.targets)
}

// newFusion builds the seeded projector and decoder: matrices from
// N(0, std²), norm weights 1, biases 0.
func newFusion(fc FusionConfig, tok *tokenizer.Tokenizer, prefix []int, featD int) (*Fusion, error) {
	lc := config.DefaultLlama()
	lc.VocabSize, lc.HiddenSize, lc.IntermediateSize = tok.VocabSize(), fc.Width, fc.MLP
	lc.NumHiddenLayers, lc.NumAttentionHeads, lc.NumKeyValueHeads = fc.Layers, fc.Heads, fc.KVHeads
	lc.MaxPositionEmbeddings = 128
	bos := labBOS
	lc.BOSTokenID, lc.EOSTokenID, lc.PadTokenID = &bos, config.TokenIDs{labEOS}, nil
	dec, err := decoder.New(&lc)
	if err != nil {
		return nil, err
	}
	fu := &Fusion{Proj1: vision.NewLinear(featD, fc.Width), Proj2: vision.NewLinear(fc.Width, fc.Width), Dec: dec, tok: tok, prefix: prefix, Show: fc.Show, log: fc.log()}
	// The decoder is walked as a tagged struct (embeddings and final norm),
	// so the norm (a bare [D] tensor would be drawn from N(0, std²)) starts
	// at 1; layers and the LM head are untagged in decoder.Model and go
	// separately.
	parts := []any{dec, dec.LMHead, &fu.Proj1, &fu.Proj2}
	for _, l := range dec.Layers {
		parts = append(parts, l)
	}
	if err := weights.Randomize(fc.Seed, initStd, parts...); err != nil {
		return nil, err
	}
	for _, v := range dec.Norm.Data {
		if v != 1 {
			return nil, fmt.Errorf("visionlab: decoder norm.weight initialised to %v, want 1", v)
		}
	}

	return fu, nil
}
