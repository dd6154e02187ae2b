package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/train"
	"github.com/stretchr/testify/require"
)

const repo = "../.."

// shipped are the default flags on the shipped folders, made short.
func shipped() flags {
	return flags{
		llava: filepath.Join(repo, defaultLlava), mllama: filepath.Join(repo, defaultMllama),
		llavaText: filepath.Join(repo, defaultLlavaText), mllamaText: filepath.Join(repo, defaultMllamaText),
		heldout: filepath.Join(repo, defaultHeldout), heldoutRows: 80,
		image: filepath.Join(repo, defaultImage), question: defaultQuestion,
		images: []int{1, 2, 4, 8}, reps: 1, batch: 4, steps: 1, maxNew: defaultMaxNewToken,
	}
}

// mllamaTextLLM writes the Llama folder of an Mllama folder's language
// model — its self-attention layers renumbered, the embedding table cut to
// the vocabulary, the tokenizer files copied — as examples/shapes writes
// OUT/text-llm after text pretraining. The shipped Mllama model trained
// with its LLM frozen, so this is its text-pretrained LLM.
func mllamaTextLLM(t *testing.T, src string) string {
	t.Helper()
	m, err := fovea.Load(context.Background(), src, fovea.ForTraining())
	require.NoError(t, err)
	tc := m.Config().Mllama.TextConfig
	var entries []fovea.SafetensorsEntry
	for _, w := range m.Parts().Weights {
		name, ok := strings.CutPrefix(w.Name, "language_model.")
		if !ok {
			continue
		}
		if rest, ok := strings.CutPrefix(name, "model.layers."); ok {
			idx, tail, _ := strings.Cut(rest, ".")
			i, err := strconv.Atoi(idx)
			require.NoError(t, err)
			if slices.Contains(tc.CrossAttentionLayers, i) {
				continue
			}
			below := 0
			for _, c := range tc.CrossAttentionLayers {
				if c < i {
					below++
				}
			}
			name = fmt.Sprintf("model.layers.%d.%s", i-below, tail)
		}
		x := w.Tensor
		if name == "model.embed_tokens.weight" {
			x, err = fovea.TensorFromData(x.Data[:tc.VocabSize*x.Dim(1)], tc.VocabSize, x.Dim(1))
			require.NoError(t, err)
		}
		entries = append(entries, fovea.Float32Entry(name, x))
	}
	dir := t.TempDir()
	cfg := map[string]any{
		"model_type": "llama", "vocab_size": tc.VocabSize, "hidden_size": tc.HiddenSize,
		"intermediate_size": tc.IntermediateSize, "num_hidden_layers": tc.NumHiddenLayers - len(tc.CrossAttentionLayers),
		"num_attention_heads": tc.NumAttentionHeads, "num_key_value_heads": tc.NumKeyValueHeads,
		"hidden_act": tc.HiddenAct, "max_position_embeddings": tc.MaxPositionEmbeddings,
		"rms_norm_eps": tc.RMSNormEps, "rope_theta": tc.RopeTheta, "tie_word_embeddings": tc.TieWordEmbeddings,
	}
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644))
	require.NoError(t, fovea.WriteSafetensors(filepath.Join(dir, "model.safetensors"), entries, nil))
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	return dir
}

// table runs compare and returns its rows by label, and the notes.
func table(t *testing.T, f flags) (map[string][2]string, string) {
	rows, _, notes := tableRows(t, f)
	return rows, notes
}

// tableRows is table with the labels in order.
func tableRows(t *testing.T, f flags) (map[string][2]string, []string, string) {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, f))
	text := out.String()
	head, notes, ok := strings.Cut(text, "\n\n")
	require.True(t, ok, "a table, a blank line, the notes:\n%s", text)
	lines := strings.Split(head, "\n")
	require.Equal(t, "|  | unified embedding (LLaVA) | cross-attention (Mllama) |", lines[0])
	require.Equal(t, "| --- | --- | --- |", lines[1])
	rows := map[string][2]string{}
	var order []string
	cell := regexp.MustCompile(`^\| (.+?) \| (.+?) \| (.+?) \|$`)
	for _, l := range lines[2:] {
		m := cell.FindStringSubmatch(strings.ReplaceAll(l, `\|`, "¦"))
		require.NotNil(t, m, "a table row: %q", l)
		label := strings.ReplaceAll(m[1], "¦", "|")
		_, dup := rows[label]
		require.False(t, dup, "row %q twice", label)
		rows[label] = [2]string{strings.ReplaceAll(m[2], "¦", "|"), strings.ReplaceAll(m[3], "¦", "|")}
		order = append(order, label)
	}
	return rows, order, notes
}

// rowCount is the row count in an accuracy row's label.
var rowCount = regexp.MustCompile(` \(\d+\)$`)

// readmeLabels are the row labels of the compare table in the top-level
// README, without the row counts of the accuracy rows.
func readmeLabels(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "README.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(raw), "\n|  | unified embedding (LLaVA) | cross-attention (Mllama) |\n| --- | --- | --- |\n")
	require.True(t, ok, "README has the compare table")
	var labels []string
	for _, l := range strings.Split(after, "\n") {
		if !strings.HasPrefix(l, "| ") {
			break
		}
		label, _, _ := strings.Cut(strings.ReplaceAll(l[2:], `\|`, "¦"), " | ")
		labels = append(labels, rowCount.ReplaceAllString(strings.ReplaceAll(label, "¦", "|"), ""))
	}
	return labels
}

// leadingInt is the number a cell starts with (thousands separators allowed).
func leadingInt(t *testing.T, cell string) int {
	t.Helper()
	m := regexp.MustCompile(`^[0-9,]+`).FindString(cell)
	require.NotEmpty(t, m, "a number in %q", cell)
	n, err := strconv.Atoi(strings.ReplaceAll(m, ",", ""))
	require.NoError(t, err)
	return n
}

func positive(t *testing.T, cell string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(cell, 64)
	require.NoError(t, err, "a number: %q", cell)
	require.Greater(t, v, 0.0)
	return v
}

// safetensorsSize counts the elements of the tensors of a folder's
// checkpoint whose names start with prefix, from the file's header.
func safetensorsSize(t *testing.T, dir, prefix string) int {
	t.Helper()
	st, err := fovea.OpenSafetensors(dir)
	require.NoError(t, err)
	defer st.Close()
	n := 0
	for _, name := range st.Names() {
		if strings.HasPrefix(name, prefix) {
			x, err := st.Float32(name)
			require.NoError(t, err)
			n += elements(x)
		}
	}
	require.Positive(t, n, prefix)
	return n
}

// patches is the patch count of one image (one tile) from a folder's
// config.json vision_config.
func patches(t *testing.T, dir string, tiles bool) int {
	t.Helper()
	var cfg struct {
		Vision struct {
			ImageSize int `json:"image_size"`
			PatchSize int `json:"patch_size"`
			MaxTiles  int `json:"max_num_tiles"`
		} `json:"vision_config"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &cfg))
	require.Positive(t, cfg.Vision.PatchSize)
	if tiles {
		require.Equal(t, 1, cfg.Vision.MaxTiles, "one tile per image")
	}
	g := cfg.Vision.ImageSize / cfg.Vision.PatchSize
	return g * g
}

// The table on the shipped models: every row, the context growth per
// image of each style, parameters that agree with the checkpoints, sane
// times and accuracies, and the text-only rows: the cross model equals its
// text-pretrained LLM bit for bit (testdata/shapes-mllama-text, the
// training run's; without it the LLM taken out of the Mllama folder), the
// unified model's stage 2 moved its LLM.
func TestShippedModels(t *testing.T) {
	f := shipped()
	if _, err := os.Stat(filepath.Join(f.mllamaText, "config.json")); err != nil {
		// Until the cross run's own text LLM ships, its frozen LLM.
		f.mllamaText = mllamaTextLLM(t, f.mllama)
	}
	rows, order, notes := tableRows(t, f)
	// The README carries the table as compare prints it.
	for i := range order {
		order[i] = rowCount.ReplaceAllString(order[i], "")
	}
	require.Equal(t, order, readmeLabels(t), "README's compare table has compare's rows")

	labels := []string{
		"parameters, whole model", "parameters, language model", "parameters, text-pretrained LLM",
		"parameters the style adds to the LLM", "trained in stage 1 (LLM frozen)", "trained in stage 2",
		"trained in the cross stage (LLM frozen)",
		"training, stage 1 (ms per row)", "training, stage 2 (ms per row)", "training, cross stage (ms per row)",
		"held-out accuracy, all (80)",
		"text-only logits, max |Δ| to the text-pretrained LLM", "text-only held-out loss, text-pretrained LLM",
		"text-only held-out loss, trained model", "text-only held-out loss, change",
	}
	for _, n := range f.images {
		labels = append(labels, fmt.Sprintf("context, %s (tokens)", images(n)), fmt.Sprintf("prefill, %s (ms)", images(n)),
			fmt.Sprintf("prefill from image features, %s (ms)", images(n)))
	}
	for _, l := range labels {
		require.Contains(t, rows, l)
	}
	for _, k := range questionKinds {
		found := false
		for l := range rows {
			found = found || strings.HasPrefix(l, "held-out accuracy, "+k.name+" (")
		}
		require.True(t, found, "accuracy row of %s", k.name)
	}

	// Context: unified grows by its image positions per image (9: a 3 × 3
	// patch grid) and the template's newline after each <image>; cross by
	// the one <|image|> token per image, its image states (patches + CLS
	// per tile) going to the cross-attention layers.
	patchesU := patches(t, f.llava, false)
	statesX := patches(t, f.mllama, true) + 1
	ctxRe := regexp.MustCompile(`^(\d+) \((\d+) image\)$`)
	crossRe := regexp.MustCompile(`^(\d+) \(\+ (\d+) image states\)$`)
	var u1, x1 int
	for _, n := range f.images {
		l := fmt.Sprintf("context, %s (tokens)", images(n))
		um := ctxRe.FindStringSubmatch(rows[l][unified])
		require.NotNil(t, um, rows[l][unified])
		xm := crossRe.FindStringSubmatch(rows[l][cross])
		require.NotNil(t, xm, rows[l][cross])
		ut, _ := strconv.Atoi(um[1])
		ui, _ := strconv.Atoi(um[2])
		xt, _ := strconv.Atoi(xm[1])
		xs, _ := strconv.Atoi(xm[2])
		if n == 1 {
			u1, x1 = ut, xt
		}
		require.Equal(t, patchesU*n, ui, l)
		require.Equal(t, u1+(patchesU+1)*(n-1), ut, l)
		require.Equal(t, x1+(n-1), xt, l)
		require.Equal(t, statesX*n, xs, l)
		positive(t, rows[fmt.Sprintf("prefill, %s (ms)", images(n))][unified])
		positive(t, rows[fmt.Sprintf("prefill, %s (ms)", images(n))][cross])
	}

	// Parameters, against the checkpoints' headers.
	projU := safetensorsSize(t, f.llava, "multi_modal_projector.")
	projX := safetensorsSize(t, f.mllama, "multi_modal_projector.")
	llmU := safetensorsSize(t, f.llava, "language_model.")
	require.Equal(t, fmt.Sprintf("%s (projector)", count(projU)), rows["trained in stage 1 (LLM frozen)"][unified])
	require.Equal(t, fmt.Sprintf("%s (projector %s + LLM %s)", count(projU+llmU), count(projU), count(llmU)), rows["trained in stage 2"][unified])
	require.Equal(t, count(llmU), rows["parameters, language model"][unified])
	require.Equal(t, count(llmU), rows["parameters, text-pretrained LLM"][unified])
	require.Equal(t, "0 (the LLM is unchanged)", rows["parameters the style adds to the LLM"][unified])
	// The cross-attention layers: every tensor of the decoder layers at
	// config.json's cross_attention_layers.
	var cfg struct {
		TextConfig struct {
			CrossAttentionLayers []int `json:"cross_attention_layers"`
		} `json:"text_config"`
	}
	raw, err := os.ReadFile(filepath.Join(f.mllama, "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &cfg))
	require.NotEmpty(t, cfg.TextConfig.CrossAttentionLayers)
	crossParams := 0
	for _, i := range cfg.TextConfig.CrossAttentionLayers {
		crossParams += safetensorsSize(t, f.mllama, fmt.Sprintf("language_model.model.layers.%d.", i))
	}
	require.Equal(t, fmt.Sprintf("%s (projector %s + cross-attention layers %s)", count(projX+crossParams), count(projX), count(crossParams)),
		rows["trained in the cross stage (LLM frozen)"][cross])
	require.Contains(t, rows["parameters the style adds to the LLM"][cross], "cross-attention layers "+count(crossParams))
	require.Equal(t, safetensorsSize(t, f.mllama, "language_model.")-leadingInt(t, rows["parameters, text-pretrained LLM"][cross]),
		leadingInt(t, rows["parameters the style adds to the LLM"][cross]))
	require.Equal(t, leadingInt(t, rows["parameters, whole model"][unified]), safetensorsSize(t, f.llava, ""))

	for _, l := range []string{"training, stage 1 (ms per row)", "training, stage 2 (ms per row)"} {
		positive(t, rows[l][unified])
		require.Equal(t, dash, rows[l][cross])
	}
	positive(t, rows["training, cross stage (ms per row)"][cross])

	accU := positive(t, rows["held-out accuracy, all (80)"][unified])
	accX := positive(t, rows["held-out accuracy, all (80)"][cross])
	require.GreaterOrEqual(t, accU, 0.9, "the shipped LLaVA model answers")
	require.LessOrEqual(t, max(accU, accX), 1.0)

	require.Equal(t, "0 (bit for bit)", rows["text-only logits, max |Δ| to the text-pretrained LLM"][cross])
	require.Equal(t, "0", rows["text-only held-out loss, change"][cross])
	require.Equal(t, rows["text-only held-out loss, text-pretrained LLM"][cross], rows["text-only held-out loss, trained model"][cross])
	positive(t, rows["text-only logits, max |Δ| to the text-pretrained LLM"][unified])
	require.Regexp(t, `^[+-]\d+\.\d{4} \([+-]\d+\.\d %\)$`, rows["text-only held-out loss, change"][unified])
	require.Contains(t, notes, "- models: ")
	require.NotContains(t, notes, "not found")
}

// A missing text-LLM folder leaves its rows at — with a note; the rest of
// the table is still measured.
func TestMissingTextLLM(t *testing.T) {
	f := shipped()
	f.heldoutRows, f.images = 12, []int{1, 2}
	f.mllamaText = filepath.Join(t.TempDir(), "absent")
	rows, notes := table(t, f)
	require.Equal(t, dash, rows["text-only logits, max |Δ| to the text-pretrained LLM"][cross])
	require.Equal(t, dash, rows["parameters, text-pretrained LLM"][cross])
	require.Contains(t, notes, f.mllamaText+" not found")
	require.NotEqual(t, dash, rows["text-only held-out loss, trained model"][unified])
	// A text LLM of another model is refused the same way.
	f.mllamaText = f.llavaText
	_, notes = table(t, f)
	require.Contains(t, notes, "is not "+f.mllama+"'s text-pretrained LLM")
}

// The text-only loss is the one train evaluates: the same targets (the
// answer's tokens and EOS) and the mean over them.
func TestLossIsTrainsEvalLoss(t *testing.T) {
	ctx := context.Background()
	f := shipped()
	rows, err := readRows(f.heldout, 40)
	require.NoError(t, err)
	convs := distinctConversations(rows)
	m, err := fovea.Load(ctx, f.llava, fovea.ForTraining())
	require.NoError(t, err)
	var l lossSum
	var recs []record
	for _, cv := range convs {
		ids, first, err := conversationIDs(m, cv)
		require.NoError(t, err)
		logits, err := m.Logits(ctx, ids, nil)
		require.NoError(t, err)
		l.add(logits, ids, first)
		recs = append(recs, record{ID: cv[0], Conversations: []train.Turn{{From: train.FromHuman, Value: cv[0]}, {From: train.FromGPT, Value: cv[1]}}})
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "text.jsonl")
	require.NoError(t, writeJSONL(path, recs))
	data, err := train.LoadDataset(path, train.DataOptions{})
	require.NoError(t, err)
	rec, err := train.Builtin(train.RecipePretrainText)
	require.NoError(t, err)
	tr, err := train.New(m, data, data, train.Config{Recipe: rec, Steps: 1, Batch: 4, Accum: 1, KeepLast: 1}, filepath.Join(dir, "out"))
	require.NoError(t, err)
	want, err := tr.Evaluate(ctx)
	require.NoError(t, err)
	require.InDelta(t, want, l.mean(), 1e-4*want)
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		edit func(*flags)
		want string
	}{
		{func(f *flags) { f.llava = "" }, "-llava and -mllama"},
		{func(f *flags) { f.reps = 0 }, "must be at least 1"},
		{func(f *flags) { f.heldoutRows = -1 }, "-heldout-rows"},
		{func(f *flags) { f.images = nil }, "-images"},
		{func(f *flags) { f.heldout = filepath.Join(t.TempDir(), "none.jsonl") }, "held-out file"},
		{func(f *flags) { f.llava, f.mllama = f.mllama, f.llava }, "want llava"},
		{func(f *flags) { f.batch = 10000 }, "need 10000 one-image rows"},
	} {
		f := shipped()
		f.heldoutRows, f.images, f.reps = 12, []int{1}, 1
		tc.edit(&f)
		err := run(context.Background(), &bytes.Buffer{}, f)
		require.ErrorContains(t, err, tc.want)
	}
	var c imageCounts
	require.NoError(t, c.Set("1, 2,8"))
	require.Equal(t, imageCounts{1, 2, 8}, c)
	require.Error(t, c.Set("0"))
	require.Error(t, c.Set("1,x"))
	require.Error(t, c.Set("65"))
}

// Rows of a held-out file are checked: one question and its answer, as
// many <image> markers as images.
func TestReadRows(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "h.jsonl")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	_, err := readRows(write(`{"id":"a","image":"x.png","conversations":[{"from":"human","value":"Hi"},{"from":"gpt","value":"one"}]}`), 0)
	require.ErrorContains(t, err, "line 1: 0 <image> markers for 1 images")
	_, err = readRows(write(`{"id":"a","conversations":[{"from":"human","value":"Hi"}]}`), 0)
	require.ErrorContains(t, err, "want one human turn and one gpt turn")
	_, err = readRows(write("\n"), 0)
	require.ErrorContains(t, err, "has no rows")
	rows, err := readRows(write(`{"id":"a","image":["p/x.png"],"conversations":[{"from":"human","value":"<image>\nWhere is the red circle?"},{"from":"gpt","value":"left"}]}`+"\n"), 0)
	require.NoError(t, err)
	require.Equal(t, []heldRow{{line: 1, id: "a", images: []string{filepath.Join(dir, "p", "x.png")}, question: "Where is the red circle?", answer: "left"}}, rows)
	require.Equal(t, "where", questionKind(rows[0].question))
	require.Equal(t, "left", normalize("  Left. "))
}
