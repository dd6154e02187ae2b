package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/tokenizer"
	"github.com/stretchr/testify/require"
)

// smallRows writes a small train split and returns its rows.
func smallRows(t *testing.T, dir string, images int) []shapes.Row {
	t.Helper()
	p, err := shapes.WriteSplit(context.Background(), dir, 1, shapes.Train, images)
	require.NoError(t, err)
	rows, err := shapes.ReadRows(p)
	require.NoError(t, err)
	return rows
}

// The trained tokenizer: special tokens are single ids, every answer word
// of the spec is one token after the prompt, both chat formats encode with
// one image token, and decoding gives the text back.
func TestTokenizer(t *testing.T) {
	dir := t.TempDir()
	rows := smallRows(t, filepath.Join(dir, "data"), 60)
	tok, err := trainTokenizer(context.Background(), rows)
	require.NoError(t, err)
	for _, fusion := range []string{fusionUnified, fusionCross} {
		out := filepath.Join(dir, fusion)
		back, err := writeTokenizer(out, tok, fusion, contextLength)
		require.NoError(t, err)
		for i, s := range specialTokens {
			id, ok := back.TokenID(s)
			require.True(t, ok, s)
			require.Equal(t, i, id, s)
		}
		st := styleOf(fusion)
		eos, _ := back.TokenID(st.eos)
		require.Equal(t, eos, back.EOS())
		bos, _ := back.TokenID(tokBOS)
		require.Equal(t, bos, back.BOS())

		ids, err := back.EncodeChat(st.template, "What colour is the circle?", 1)
		require.NoError(t, err)
		image, _ := back.TokenID(map[bool]string{true: tokImage, false: tokMllamaImage}[fusion == fusionUnified])
		n := 0
		for _, id := range ids {
			if id == image {
				n++
			}
		}
		require.Equal(t, 1, n, "one image token in %v", ids)
		require.Equal(t, bos, ids[0], "prompt starts with BOS")
		require.Less(t, len(ids), 24, "the prompt's words are merged")

		for _, r := range rows[:40] {
			q, _ := r.Question()
			a, _ := r.Answer()
			text, err := st.trainingText(q, a, 1)
			require.NoError(t, err)
			got, err := back.Decode(back.Encode(text, tokenizer.WithParseSpecial(true), tokenizer.WithAddSpecial(false)))
			require.NoError(t, err)
			require.Equal(t, text, got)
		}
		prompt, err := st.template.Format("x", 1)
		require.NoError(t, err)
		sep := map[bool]string{true: " ", false: ""}[fusion == fusionUnified]
		for _, w := range []string{"one", "two", "three", "red", "green", "blue", "yellow", "circle", "square", "triangle", "left", "middle", "right"} {
			full := back.Encode(prompt+sep+w, tokenizer.WithParseSpecial(true))
			last, err := back.Decode(full[len(full)-1:])
			require.NoError(t, err)
			require.Equal(t, sep+w, last, "answer word %q is one token", w)
		}

		var cfg map[string]any
		data, err := os.ReadFile(filepath.Join(out, tokenizer.TokenizerConfigJSON))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &cfg))
		require.Equal(t, st.jinja, cfg["chat_template"])
		require.Contains(t, string(data), `"<|begin_of_text|>"`, "tokens are written unescaped")
	}
}

// tinyBudget is a pipeline run of a few steps per stage.
var tinyBudget = budgets{text: 2, vision: 2, stage1: 1, stage2: 2, batch: 4}

// Training mode writes the dataset and tokenizer first; -data-only stops
// there; bad flags are errors.
func TestTrainingFlags(t *testing.T) {
	out := t.TempDir()
	var log bytes.Buffer
	require.NoError(t, run(context.Background(), &log, flags{fusion: fusionCross, seed: 3, out: out, trainImages: 5, heldOutImages: 3, dataOnly: true, budget: tinyBudget}))
	for _, f := range []string{"data/train.jsonl", "data/heldout.jsonl", "data/heldout/00002.png", "tokenizer.json", "tokenizer_config.json"} {
		require.FileExists(t, filepath.Join(out, f))
	}
	require.NoError(t, run(context.Background(), &log, flags{fusion: fusionUnified, seed: 3, out: out, trainImages: 5, heldOutImages: 3, dataOnly: true, budget: tinyBudget}))

	for _, bad := range []flags{
		{fusion: "early", out: out, trainImages: 1, heldOutImages: 1, budget: tinyBudget},
		{fusion: fusionUnified, out: out, trainImages: 0, heldOutImages: 1, budget: tinyBudget},
		{fusion: fusionUnified, out: out, trainImages: 1, heldOutImages: 1, budget: budgets{text: 1, vision: 0, stage1: 1, stage2: 1, batch: 1}},
		{fusion: fusionUnified, out: out, trainImages: 1, heldOutImages: 1, budget: budgets{text: 1, vision: 1, stage1: 1, stage2: 1, batch: 1, fusionLR: -1}},
		{eval: "x.jsonl"},
		{eval: "x.jsonl", model: out, maxNew: 0},
	} {
		require.Error(t, run(context.Background(), &log, bad), "%+v", bad)
	}
}

// evalOutput runs -eval and returns the JSON lines and the accuracy line.
func evalOutput(t *testing.T, jsonl, model string) ([]evalLine, string) {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, flags{eval: jsonl, model: model, maxNew: 6}))
	var lines []evalLine
	acc := ""
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "accuracy: ") {
			acc = sc.Text()
			continue
		}
		require.Empty(t, acc, "accuracy is the last line")
		var l evalLine
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&l), sc.Text())
		require.True(t, strings.HasPrefix(sc.Text(), `{"id":`), "id comes first: %s", sc.Text())
		lines = append(lines, l)
	}
	return lines, acc
}

// -eval end to end on random-weight LLaVA and Mllama folders
// (testdata/llava_tiny, mllama_tiny with a shapes tokenizer): one line per
// row in order, and the accuracy counts the rows whose expected answer
// matches under the spec's rule.
func TestEval(t *testing.T) {
	for _, c := range []struct{ src, fusion, image string }{
		{"llava_tiny", fusionUnified, tokImage},
		{"mllama_tiny", fusionCross, tokMllamaImage},
	} {
		t.Run(c.src, func(t *testing.T) { testEval(t, c.src, c.fusion, c.image) })
	}
}

func testEval(t *testing.T, srcName, fusion, imageToken string) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	require.NoError(t, os.MkdirAll(model, 0o755))
	src := filepath.Join("..", "..", "testdata", srcName)
	for _, f := range []string{"model.safetensors", "preprocessor_config.json", "generation_config.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(model, f), data, 0o644))
	}
	rows := smallRows(t, filepath.Join(dir, "data"), 3)
	corpus, err := tokenizerCorpus(rows)
	require.NoError(t, err)
	// The tiny models have 384 embedding rows: a tokenizer of at most that many.
	tok, err := tokenizer.Train(context.Background(), corpus, tokenizer.TrainConfig{VocabSize: 384, SpecialTokens: specialTokens, MinFrequency: 1})
	require.NoError(t, err)
	_, err = writeTokenizer(model, tok, fusion, contextLength)
	require.NoError(t, err)
	var cfg map[string]any
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &cfg))
	image, _ := tok.TokenID(imageToken)
	cfg["image_token_index"] = image
	data, err = json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(model, "config.json"), data, 0o644))

	// Three rows of the split, image paths relative to the JSONL file.
	jsonl := filepath.Join(dir, "data", "few.jsonl")
	writeRows(t, jsonl, rows[:3])
	lines, acc := evalOutput(t, jsonl, model)
	require.Len(t, lines, 3)
	for i, l := range lines {
		require.Equal(t, rows[i].ID, l.ID)
	}
	// Expect the first answer (upper-cased, with a full stop): 1 of 3 right.
	rigged := append([]shapes.Row(nil), rows[:3]...)
	for i := range rigged {
		rigged[i].Conversations = append([]shapes.Turn(nil), rigged[i].Conversations...)
		want := "\u0000never"
		if i == 0 {
			want = strings.ToUpper(lines[0].Answer) + "."
		}
		rigged[i].Conversations[1].Value = want
	}
	writeRows(t, jsonl, rigged)
	again, acc := evalOutput(t, jsonl, model)
	require.Equal(t, lines, again, "greedy answers are deterministic")
	require.Equal(t, "accuracy: 0.333", acc)

	// Without gpt turns: answers only, no accuracy line.
	for i := range rigged {
		rigged[i].Conversations = rigged[i].Conversations[:1]
	}
	writeRows(t, jsonl, rigged)
	_, acc = evalOutput(t, jsonl, model)
	require.Empty(t, acc)

	writeRows(t, jsonl, []shapes.Row{{ID: "x", Image: "missing.png", Conversations: []shapes.Turn{{From: "human", Value: "<image>\nHi"}}}})
	err = run(context.Background(), &bytes.Buffer{}, flags{eval: jsonl, model: model, maxNew: 4})
	require.ErrorContains(t, err, `row "x"`)
}

func writeRows(t *testing.T, path string, rows []shapes.Row) {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		data, err := json.Marshal(r)
		require.NoError(t, err)
		fmt.Fprintln(&b, string(data))
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

// Both pipelines end to end on a tiny budget: every stage runs, the last
// line is the accuracy, -out is an HF folder that -eval reads back with
// the same answers, and a second run with the seed is bit-identical.
func TestPipelines(t *testing.T) {
	t.Run(fusionUnified, func(t *testing.T) { testPipeline(t, fusionUnified, "stages 1+2: 5 steps") })
	t.Run(fusionCross, func(t *testing.T) { testPipeline(t, fusionCross, "cross-attention stage: 5 steps") })
}

func testPipeline(t *testing.T, fusion, fusionLine string) {
	ctx := context.Background()
	runOnce := func() (string, string) {
		out := t.TempDir()
		var log bytes.Buffer
		f := flags{fusion: fusion, seed: 5, out: out, trainImages: 12, heldOutImages: 3, maxNew: 6, // evalOutput's -max-new
			budget: budgets{text: 3, vision: 3, stage1: 2, stage2: 3, batch: 4}, cross: crossOptions{steps: 5}}
		require.NoError(t, run(ctx, &log, f))
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")
		last := lines[len(lines)-1]
		require.Regexp(t, `^accuracy: [01]\.\d{3}$`, last)
		for _, stage := range []string{"text pretraining: 3 steps", "vision pretraining: 3 steps", fusionLine, "held-out: "} {
			require.Contains(t, log.String(), stage)
		}
		for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
			"preprocessor_config.json", "generation_config.json", answersFile, "data/heldout.jsonl"} {
			require.FileExists(t, filepath.Join(out, name))
		}
		require.NoDirExists(t, filepath.Join(out, "runs"))
		// -eval on the saved folder gives the training run's answers.
		saved, err := os.ReadFile(filepath.Join(out, answersFile))
		require.NoError(t, err)
		got, acc := evalOutput(t, filepath.Join(out, "data", "heldout.jsonl"), out)
		want := strings.Split(strings.TrimSpace(string(saved)), "\n")
		require.Len(t, got, len(want))
		for i, l := range got {
			var w evalLine
			require.NoError(t, json.Unmarshal([]byte(want[i]), &w))
			require.Equal(t, w.ID, l.ID)
			require.Equal(t, w.Answer, l.Answer)
		}
		require.NotEmpty(t, acc)
		st, err := os.ReadFile(filepath.Join(out, "model.safetensors"))
		require.NoError(t, err)
		return last, string(st)
	}
	acc1, w1 := runOnce()
	acc2, w2 := runOnce()
	require.Equal(t, acc1, acc2)
	require.True(t, w1 == w2, "one seed gives one model")
}
