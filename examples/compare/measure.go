package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/train"
)

// The two columns of the table.
const (
	unified = iota
	cross
	nStyles
)

var styleNames = [nStyles]string{"unified embedding (LLaVA)", "cross-attention (Mllama)"}

// llmPrefix is the checkpoint prefix of the language model in both
// architectures' HF names.
const llmPrefix = "language_model."

// column is what was measured on one model.
type column struct {
	dir, textDir string
	params       int // every weight
	llmParams    int // language_model.*
	textParams   int // the text-pretrained LLM's (0: no folder)
	// embedExtra are the embedding-table entries the model has beyond its
	// text LLM's (Mllama's rows for image tokens).
	embedExtra int
	// trained is train's count of trained parameters per group, per stage
	// (unified: stage 1, stage 2; cross: the cross stage).
	trained [2]map[train.Group]int
	// stageMs is the best training step's time per row, per stage.
	stageMs [2]float64
	context map[int]contextRun // by image count
	acc     map[string]*score  // by question kind
	all     score
	// text-only behaviour (hasText: the text LLM folder was there)
	hasText               bool
	textPrompts           int
	maxDelta              float64
	lossBefore, lossAfter float64
}

// contextRun is one image count's prompt on one model.
type contextRun struct {
	tokens   int           // positions the decoder runs (PromptTokens)
	imagePos int           // of which image positions
	states   int           // image positions held as cross-attention states
	prefill  time.Duration // from pixels, best of the repetitions
	decoder  time.Duration // from image features, best of the repetitions
	limit    string        // why it could not run ("" when it ran)
}

// report is the whole measurement.
type report struct {
	f       flags
	cols    [nStyles]*column
	heldout int // rows scored
	notes   []string
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// measure runs every measurement on the two folders of f.
func measure(ctx context.Context, f flags) (*report, error) {
	r := &report{f: f}
	dirs := [nStyles][2]string{{f.llava, f.llavaText}, {f.mllama, f.mllamaText}}
	kinds := [nStyles]fovea.Kind{fovea.KindLlava, fovea.KindMllama}
	models := [nStyles]*fovea.Model{}
	texts := [nStyles]*fovea.Model{}
	for s := range nStyles {
		m, err := fovea.Load(ctx, dirs[s][0])
		if err != nil {
			return nil, err
		}
		if m.Kind() != kinds[s] {
			return nil, fmt.Errorf("%s is a %s folder, want %s", dirs[s][0], m.Kind(), kinds[s])
		}
		if m.Tokenizer() == nil {
			return nil, fmt.Errorf("%s has no tokenizer", dirs[s][0])
		}
		c := &column{dir: dirs[s][0], textDir: dirs[s][1], context: map[int]contextRun{}, acc: map[string]*score{}}
		for _, w := range m.Parts().Weights {
			c.params += elements(w.Tensor)
			if strings.HasPrefix(w.Name, llmPrefix) {
				c.llmParams += elements(w.Tensor)
			}
		}
		t, err := loadTextLLM(ctx, c.textDir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.note("%s's text-pretrained LLM: %s not found, so its text-only rows show —; "+
				"go run ./examples/shapes writes it to OUT/%s", c.dir, c.textDir, "text-llm")
		case err != nil:
			return nil, err
		default:
			texts[s], c.hasText = t, true
			for _, w := range t.Parts().Weights {
				c.textParams += elements(w.Tensor)
			}
			c.embedExtra = embedSize(m) - embedSize(t)
		}
		models[s], r.cols[s] = m, c
	}

	all, err := readRows(f.heldout, 0)
	if err != nil {
		return nil, err
	}
	rows := all
	if f.heldoutRows > 0 && f.heldoutRows < len(all) {
		rows = all[:f.heldoutRows]
	}
	r.heldout = len(rows)
	work, err := os.MkdirTemp("", "fovea-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	if err := r.contexts(ctx, models); err != nil {
		return nil, err
	}
	if err := r.training(ctx, work, all); err != nil {
		return nil, err
	}
	for s := range nStyles {
		if err := r.accuracy(ctx, s, models[s], rows); err != nil {
			return nil, err
		}
	}
	if err := r.textOnly(ctx, models, texts, rows); err != nil {
		return nil, err
	}
	return r, nil
}

// elements is a weight's size from its shape (an inference model's
// packed weights have released their row-major data).
func elements(t *fovea.Tensor) int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// embedSize is the size of the language model's token embedding table.
func embedSize(m *fovea.Model) int {
	for _, w := range m.Parts().Weights {
		if strings.HasSuffix(w.Name, "embed_tokens.weight") {
			return elements(w.Tensor)
		}
	}
	return 0
}

// loadTextLLM loads a text-pretrained LLM folder; a folder without a
// config.json is fs.ErrNotExist.
func loadTextLLM(ctx context.Context, dir string) (*fovea.Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return nil, err
	}
	m, err := fovea.Load(ctx, dir)
	if err != nil {
		return nil, err
	}
	if m.Kind() != fovea.KindLlama {
		return nil, fmt.Errorf("%s is a %s folder, want a text-only %s folder", dir, m.Kind(), fovea.KindLlama)
	}
	if m.Tokenizer() == nil {
		return nil, fmt.Errorf("%s has no tokenizer", dir)
	}
	return m, nil
}

// contexts runs the question with each image count on both models, in
// turn, f.reps times, keeping each one's best prefill time: from pixels
// (the vision encoder included) and from the image features EncodeImages
// returned (the language model alone).
func (r *report) contexts(ctx context.Context, models [nStyles]*fovea.Model) error {
	img, err := fovea.LoadImage(r.f.image)
	if err != nil {
		return err
	}
	inputs := [nStyles]map[int]*prepared{{}, {}}
	for _, n := range r.f.images {
		imgs := make([]image.Image, n)
		for i := range imgs {
			imgs[i] = img
		}
		for s, m := range models {
			p, err := prepare(ctx, m, r.f.question, imgs)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.cols[s].context[n] = contextRun{limit: err.Error()}
				r.note("%s, %s: %v", styleNames[s], images(n), err)
				continue
			}
			inputs[s][n] = p
		}
	}
	for rep := 0; rep < r.f.reps; rep++ {
		for _, n := range r.f.images {
			for s, m := range models {
				p := inputs[s][n]
				if p == nil {
					continue
				}
				c := r.cols[s]
				var took [2]time.Duration
				var tokens int
				for i, px := range []*fovea.Pixels{p.px, p.feats} {
					res, err := m.Complete(ctx, fovea.Request{IDs: p.ids, Pixels: px,
						Options: decoder.GenerateOptions{MaxNewTokens: 1}, Greedy: true, NoStopTokens: true})
					if err != nil {
						if ctx.Err() != nil {
							return ctx.Err()
						}
						c.context[n] = contextRun{limit: err.Error()}
						r.note("%s, %s: %v", styleNames[s], images(n), err)
						inputs[s][n] = nil
						break
					}
					took[i], tokens = res.Prefill, res.PromptTokens
				}
				if inputs[s][n] == nil {
					continue
				}
				run, seen := c.context[n]
				if !seen {
					run = contextRun{tokens: tokens, imagePos: p.imagePos, states: p.imageState, prefill: took[0], decoder: took[1]}
				}
				run.prefill, run.decoder = min(run.prefill, took[0]), min(run.decoder, took[1])
				c.context[n] = run
			}
		}
	}
	return nil
}

// prepared is one prompt's inputs, ready to time.
type prepared struct {
	ids        []int
	px, feats  *fovea.Pixels // pixels; pixels with their image features
	imagePos   int           // image positions in the context
	imageState int           // cross-attention image states
}

// prepare renders and encodes the question with imgs as one user turn
// and preprocesses and encodes the images.
func prepare(ctx context.Context, m *fovea.Model, question string, imgs []image.Image) (*prepared, error) {
	text, err := m.RenderChat([]fovea.Message{{Role: fovea.RoleUser, Text: question, Images: imgs}}, true)
	if err != nil {
		return nil, err
	}
	ids, err := m.EncodeChat(text)
	if err != nil {
		return nil, err
	}
	px, err := m.PreprocessImages(imgs)
	if err != nil {
		return nil, err
	}
	feats, err := m.EncodeImages(ctx, px)
	if err != nil {
		return nil, err
	}
	withFeats := *px
	withFeats.Features = feats
	p := &prepared{ids: ids, px: px, feats: &withFeats}
	if m.Kind() == fovea.KindMllama {
		p.imageState = feats.Dim(1) // cross_attention_states [1, N·tiles·P, D]
	} else {
		p.imagePos = len(imgs) * m.Parts().ImageTokens
	}
	return p, nil
}

// The stages timed, per style.
var stageRecipes = [nStyles][2]train.Stage{
	unified: {
		{Name: "stage1", LR: map[train.Group]float64{train.Projector: train.DefaultProjectorLR}},
		{Name: "stage2", LR: map[train.Group]float64{train.Projector: train.DefaultProjectorLR, train.Decoder: train.DefaultDecoderLR}},
	},
	cross: {
		{Name: "cross", LR: map[train.Group]float64{train.Projector: train.DefaultProjectorLR, train.CrossAttn: train.DefaultCrossAttnLR}},
	},
}

// training runs one warm-up and f.steps timed optimizer steps of each
// stage on a fresh training copy of each model, with one batch of rows
// that all ask the same question (so every step is one graph bucket and,
// after the first, every image's frozen features are cached). The stages
// take their steps in turn, one step each per round, so that a change in
// the machine's load touches them alike. It reports the time per row of
// each stage's best step and train's count of the parameters trained.
func (r *report) training(ctx context.Context, work string, rows []heldRow) error {
	data, err := sameQuestionRows(work, r.f.heldout, rows, r.f.batch)
	if err != nil {
		return err
	}
	type run struct {
		style, stage int
		tr           *train.Trainer
		best         time.Duration
		sum          *train.Summary
	}
	var runs []*run
	for s := range nStyles {
		for i, st := range stageRecipes[s] {
			if st.Name == "" {
				continue
			}
			m, err := fovea.Load(ctx, r.cols[s].dir, fovea.ForTraining())
			if err != nil {
				return err
			}
			st.Steps = 1 + r.f.steps
			tr, err := train.New(m, data, nil, train.Config{
				Recipe: train.Recipe{Name: st.Name, Stages: []train.Stage{st}},
				Batch:  r.f.batch, Accum: 1, Seed: 1, KeepLast: 1,
			}, filepath.Join(work, fmt.Sprintf("train-%d-%d", s, i)))
			if err != nil {
				return fmt.Errorf("%s, %s: %w", styleNames[s], st.Name, err)
			}
			ru := &run{style: s, stage: i, tr: tr, best: time.Duration(math.MaxInt64)}
			tr.OnStep = func(info train.StepInfo) {
				if info.Step > 1 { // step 1 compiles the graph and caches the features
					ru.best = min(ru.best, info.Elapsed)
				}
			}
			runs = append(runs, ru)
		}
	}
	for step := 1; step <= 1+r.f.steps; step++ {
		for _, ru := range runs {
			if ru.sum, err = ru.tr.Run(ctx, step); err != nil {
				return fmt.Errorf("%s, %s: %w", styleNames[ru.style], stageRecipes[ru.style][ru.stage].Name, err)
			}
		}
	}
	for _, ru := range runs {
		c := r.cols[ru.style]
		c.trained[ru.stage] = ru.sum.Trained
		c.stageMs[ru.stage] = float64(ru.best.Microseconds()) / 1000 / float64(r.f.batch)
	}
	return nil
}

// accuracy answers every held-out row, greedy, and scores it by the
// spec's rule (exact match after normalising), per question kind.
func (r *report) accuracy(ctx context.Context, s int, m *fovea.Model, rows []heldRow) error {
	c := r.cols[s]
	imgs := map[string]image.Image{}
	for _, row := range rows {
		var list []image.Image
		for _, p := range row.images {
			img, ok := imgs[p]
			if !ok {
				var err error
				if img, err = fovea.LoadImage(p); err != nil {
					return fmt.Errorf("%s line %d: %w", r.f.heldout, row.line, err)
				}
				imgs[p] = img
			}
			list = append(list, img)
		}
		res, err := m.Complete(ctx, fovea.Request{
			Messages: []fovea.Message{{Role: fovea.RoleUser, Text: row.question, Images: list}},
			Options:  decoder.GenerateOptions{MaxNewTokens: r.f.maxNew}, Greedy: true, SkipSpecialTokens: true,
		})
		if err != nil {
			return fmt.Errorf("%s, %s line %d: %w", styleNames[s], r.f.heldout, row.line, err)
		}
		ok := normalize(res.Text) == normalize(row.answer)
		k := questionKind(row.question)
		if c.acc[k] == nil {
			c.acc[k] = &score{}
		}
		c.acc[k].add(ok)
		c.all.add(ok)
	}
	return nil
}

// textOnly compares each trained model with its text-pretrained LLM on
// the held-out questions and answers without images: the largest logit
// difference over the distinct conversations, and the mean loss per
// answer token of both.
func (r *report) textOnly(ctx context.Context, models, texts [nStyles]*fovea.Model, rows []heldRow) error {
	convs := distinctConversations(rows)
	for s := range nStyles {
		c := r.cols[s]
		if !c.hasText {
			continue
		}
		m, t := models[s], texts[s]
		if why := mismatch(m, t, convs); why != "" {
			c.hasText = false
			r.note("%s is not %s's text-pretrained LLM (%s), so its text-only rows show —", c.textDir, c.dir, why)
			continue
		}
		c.textPrompts = len(convs)
		var after, before lossSum
		for _, cv := range convs {
			ids, first, err := conversationIDs(m, cv)
			if err != nil {
				return fmt.Errorf("%s, text-only %q: %w", c.dir, cv[0], err)
			}
			tids, tfirst, err := conversationIDs(t, cv)
			if err != nil {
				return fmt.Errorf("%s, text-only %q: %w", c.textDir, cv[0], err)
			}
			if !slices.Equal(ids, tids) || first != tfirst {
				return fmt.Errorf("%s and %s tokenize %q differently", c.dir, c.textDir, cv[0])
			}
			la, err := m.Logits(ctx, ids, nil)
			if err != nil {
				return err
			}
			lb, err := t.Logits(ctx, ids, nil)
			if err != nil {
				return err
			}
			if !slices.Equal(la.Shape, lb.Shape) {
				return fmt.Errorf("text-only logits %v against the text LLM's %v", la.Shape, lb.Shape)
			}
			for i, v := range la.Data {
				c.maxDelta = max(c.maxDelta, math.Abs(float64(v)-float64(lb.Data[i])))
			}
			after.add(la, ids, first)
			before.add(lb, ids, first)
		}
		c.lossAfter, c.lossBefore = after.mean(), before.mean()
	}
	return nil
}

// mismatch says why t cannot be m's text LLM ("" when it can be): a
// different vocabulary, width or tokenization of the conversations.
func mismatch(m, t *fovea.Model, convs [][2]string) string {
	mt, tt := m.Parts().Decoder.Config(), t.Parts().Decoder.Config()
	if mt.HiddenSize != tt.HiddenSize {
		return fmt.Sprintf("width %d against %d", tt.HiddenSize, mt.HiddenSize)
	}
	if m.Tokenizer().VocabSize() != t.Tokenizer().VocabSize() {
		return fmt.Sprintf("a tokenizer of %d tokens against %d", t.Tokenizer().VocabSize(), m.Tokenizer().VocabSize())
	}
	for _, cv := range convs {
		a, _, errA := conversationIDs(m, cv)
		b, _, errB := conversationIDs(t, cv)
		if errA != nil || errB != nil || !slices.Equal(a, b) {
			return fmt.Sprintf("it tokenizes %q differently", cv[0])
		}
	}
	return ""
}

// distinctConversations are the distinct (question, answer) pairs of rows.
func distinctConversations(rows []heldRow) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, r := range rows {
		cv := [2]string{r.question, r.answer}
		if !seen[cv] {
			seen[cv] = true
			out = append(out, cv)
		}
	}
	return out
}

// conversationIDs encodes a question and its answer as one text-only chat
// with the model's template, as training renders it: the ids and the
// index of the first answer token. The answer's tokens are the targets;
// when they do not end in an end-of-turn token the tokenizer's EOS is
// appended, so the loss counts stopping too.
func conversationIDs(m *fovea.Model, cv [2]string) (ids []int, first int, err error) {
	msgs := []fovea.Message{{Role: fovea.RoleUser, Text: cv[0]}, {Role: fovea.RoleAssistant, Text: cv[1]}}
	prompt, err := m.RenderChat(msgs[:1], true)
	if err != nil {
		return nil, 0, err
	}
	full, err := m.RenderChat(msgs, false)
	if err != nil {
		return nil, 0, err
	}
	if !strings.HasPrefix(full, prompt) {
		return nil, 0, errors.New("the chat template's answer does not extend its prompt")
	}
	p, err := m.EncodeChat(prompt)
	if err != nil {
		return nil, 0, err
	}
	if ids, err = m.EncodeChat(full); err != nil {
		return nil, 0, err
	}
	if len(ids) <= len(p) || !slices.Equal(ids[:len(p)], p) {
		return nil, 0, errors.New("the answer's tokens do not extend the prompt's")
	}
	tok := m.Tokenizer()
	stops := []int{tok.EOS()}
	if id, ok := tok.TokenID(endOfTurn); ok {
		stops = append(stops, id)
	}
	if !slices.Contains(stops, ids[len(ids)-1]) && tok.EOS() >= 0 {
		ids = append(ids, tok.EOS())
	}
	return ids, len(p), nil
}

// endOfTurn is Llama 3's end-of-turn token, which ends an Mllama answer.
const endOfTurn = "<|eot_id|>"

// lossSum accumulates the cross-entropy of target tokens.
type lossSum struct {
	sum float64
	n   int
}

// add scores ids[first:] under logits [1, T, V] of ids (position t-1
// predicts token t), in float64.
func (l *lossSum) add(logits *fovea.Tensor, ids []int, first int) {
	v := logits.Dim(2)
	for t := first; t < len(ids); t++ {
		row := logits.Data[(t-1)*v : t*v]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = max(mx, float64(x))
		}
		var z float64
		for _, x := range row {
			z += math.Exp(float64(x) - mx)
		}
		l.sum += mx + math.Log(z) - float64(row[ids[t]])
		l.n++
	}
}

func (l lossSum) mean() float64 { return l.sum / float64(l.n) }

// writeJSONL writes records, one JSON line each.
func writeJSONL(path string, recs []record) error {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
