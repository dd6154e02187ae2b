package visionlab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/shapes"
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
	Seed                               uint64
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
	AnswerString string
}

// Fusion is the projector and decoder.
type Fusion struct {
	Proj1, Proj2 vision.Linear
	Dec          *decoder.Model
	tok          *tokenizer.Tokenizer
	prefix       []int
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
			rows = append(rows, row{Img: i, Type: q.Type, Prompt: ids[at+1:], Ans: ans, AnswerString: q.Answer})
		}
	}
	return prefix, rows, nil
}

// FusionPoint is one measurement.
type FusionPoint struct {
	Step    int                             `json:"step"`
	Seconds float64                         `json:"train_seconds"`
	Loss    float64                         `json:"loss"`
	Acc     float64                         `json:"heldout_exact_match"`
	PerType map[shapes.QuestionType]float64 `json:"per_type"`
	EvalSec float64                         `json:"eval_seconds"`
}

// RunFusion trains projector + decoder on frozen features for budget and
// reports held-out exact match (greedy decoding) every evalEvery.
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
	fmt.Printf("features: %d train + %d held-out images once, %.1fs; vocab %d, %d train rows\n", trainF.N, heldF.N, featSec, tok.VocabSize(), len(trainRows))

	lc := config.DefaultLlama()
	lc.VocabSize, lc.HiddenSize, lc.IntermediateSize = tok.VocabSize(), fc.Width, fc.MLP
	lc.NumHiddenLayers, lc.NumAttentionHeads, lc.NumKeyValueHeads = fc.Layers, fc.Heads, fc.KVHeads
	lc.MaxPositionEmbeddings = 128
	bos := labBOS
	lc.BOSTokenID, lc.EOSTokenID, lc.PadTokenID = &bos, config.TokenIDs{labEOS}, nil
	dec, err := decoder.New(&lc)
	if err != nil {
		return err
	}
	fu := &Fusion{Proj1: vision.NewLinear(trainF.D, fc.Width), Proj2: vision.NewLinear(fc.Width, fc.Width), Dec: dec, tok: tok, prefix: prefix}
	parts := []any{dec.EmbedTokens, dec.Norm, dec.LMHead, &fu.Proj1, &fu.Proj2}
	for _, l := range dec.Layers {
		parts = append(parts, l)
	}
	if err := weights.Randomize(fc.Seed, initStd, parts...); err != nil {
		return err
	}

	// One static bucket: the longest prompt-after-image + answer.
	l2 := 0
	for _, r := range append(append([]row(nil), trainRows...), heldRows...) {
		l2 = max(l2, len(r.Prompt)+len(r.Ans))
	}
	b := fc.Batch
	be := graph.New(graph.Options{})
	pre := make([][]int, b)
	for i := range pre {
		pre[i] = prefix
	}
	preE, err := dec.Embed(be, pre)
	if err != nil {
		return err
	}
	// The suffix ids change every step: keep the Embedding node itself
	// (SetIDs rebinds it), reshaped as decoder.Embed does.
	sufIDs := be.Embedding(be.Weight(dec.EmbedTokens), make([]int, b*l2)) // [B·L2, D]
	sufE := be.Reshape(sufIDs, b, l2, fc.Width)                           // [B, L2, D]
	feat := tensor.New(b, trainF.P, trainF.D)
	featV := be.Const(feat)
	img := fu.project(be, featV)                            // [B, P, D]
	x := be.Concat(1, preE, img, sufE)                      // [B, T, D]
	logits, err := dec.Forward(be, x, dec.NewTrainState(b)) // [B, T, V]
	if err != nil {
		return err
	}
	t := len(prefix) + trainF.P + l2
	targets := make([]int, b*t)
	loss := be.CrossEntropy(logits, targets, ignore)
	if err := be.Backward(loss); err != nil {
		return err
	}
	mach, err := be.Compile()
	if err != nil {
		return err
	}
	defer mach.Close()
	opt := graph.NewAdamW(fc.LR, 0)
	rng := rand.New(rand.NewPCG(fc.Seed, 7))
	var elapsed time.Duration
	next := evalEvery
	var lossSum float64
	lossN := 0
	embedIDs := make([]int, b*l2)
	for step := 1; ; step++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := range targets {
			targets[i] = ignore
		}
		for i := 0; i < b; i++ {
			r := trainRows[rng.IntN(len(trainRows))]
			copy(feat.Data[i*trainF.P*trainF.D:(i+1)*trainF.P*trainF.D], trainF.Data[r.Img*trainF.P*trainF.D:(r.Img+1)*trainF.P*trainF.D])
			seq := append(append([]int(nil), r.Prompt...), r.Ans...)
			for j := 0; j < l2; j++ {
				id := labPad
				if j < len(seq) {
					id = seq[j]
				}
				embedIDs[i*l2+j] = id
			}
			// logits at global position g predict token g+1; the answer
			// starts at suffix index len(Prompt).
			base := i*t + len(prefix) + trainF.P
			for j := len(r.Prompt); j < len(seq); j++ {
				targets[base+j-1] = seq[j]
			}
		}
		start := time.Now()
		if err := be.SetConst(featV, feat); err != nil {
			return err
		}
		if err := be.SetIDs(sufIDs, embedIDs); err != nil {
			return err
		}
		if err := be.SetTargets(loss, targets); err != nil {
			return err
		}
		if err := mach.Run(ctx); err != nil {
			return err
		}
		lv, err := be.Read(loss)
		if err != nil {
			return err
		}
		opt.LR = fc.LR * schedule(elapsed.Seconds()/budget.Seconds())
		if err := opt.Step(be.Params()); err != nil {
			return err
		}
		elapsed += time.Since(start)
		lossSum += float64(lv.Data[0])
		lossN++
		if elapsed >= next || elapsed >= budget {
			es := time.Now()
			acc, per, err := fu.evaluate(ctx, heldF, heldRows)
			if err != nil {
				return err
			}
			report(FusionPoint{Step: step, Seconds: elapsed.Seconds(), Loss: lossSum / float64(lossN), Acc: acc, PerType: per, EvalSec: time.Since(es).Seconds()})
			lossSum, lossN = 0, 0
			next += evalEvery
		}
		if elapsed >= budget {
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
		}
	}
	per := map[shapes.QuestionType]float64{}
	for k, v := range n {
		per[k] = float64(right[k]) / float64(v)
	}
	return float64(total) / float64(len(rows)), per, nil
}
