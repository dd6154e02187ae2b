package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

// textLLMDir is the folder, inside -out, where a training run keeps its
// language model as it was right after text pretraining: a Llama HF
// folder (config.json, model.safetensors, tokenizer and generation files)
// that fovea.Load reads. examples/compare measures the text-only
// behaviour of the trained model against it.
const textLLMDir = "text-llm"

// textLLMFiles are the side files the text LLM folder copies from the
// run's folder.
var textLLMFiles = []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json"}

// saveTextLLM writes m's language model to dir as a Llama folder, with
// the tokenizer and generation files of src. For LLaVA it is the
// language_model.* weights under Llama's names; for Mllama the
// self-attention layers renumbered without the cross-attention layers
// (which a text-only forward skips) and the embedding table cut to the
// vocabulary (Mllama's has 8 more rows, for image tokens).
func saveTextLLM(m *fovea.Model, src, dir string) error {
	var (
		cfg   decoder.Config
		cross []int
		rows  int // rows kept of the embedding table
	)
	switch c := m.Config(); {
	case c.Llava != nil:
		cfg = c.Llava.TextConfig
	case c.Mllama != nil:
		t := c.Mllama.TextConfig
		cross = t.CrossAttentionLayers
		cfg = decoder.Config{
			VocabSize: t.VocabSize, HiddenSize: t.HiddenSize, IntermediateSize: t.IntermediateSize,
			NumHiddenLayers: t.NumHiddenLayers - len(cross), NumAttentionHeads: t.NumAttentionHeads,
			NumKeyValueHeads: t.NumKeyValueHeads, HiddenAct: t.HiddenAct,
			MaxPositionEmbeddings: t.MaxPositionEmbeddings, RMSNormEps: t.RMSNormEps, RopeTheta: t.RopeTheta,
			RopeScaling: t.RopeScaling, TieWordEmbeddings: t.TieWordEmbeddings,
			BOSTokenID: t.BOSTokenID, EOSTokenID: t.EOSTokenID, PadTokenID: t.PadTokenID,
		}
		rows = t.VocabSize
	default:
		return fmt.Errorf("text LLM: model type %q has no language model to save", c.ModelType)
	}
	cfg.ModelType = string(fovea.KindLlama)

	var entries []fovea.SafetensorsEntry
	for _, w := range m.Parts().Weights {
		name, ok := strings.CutPrefix(w.Name, "language_model.")
		if !ok {
			continue // vision tower, projector
		}
		t := w.Tensor
		if rest, ok := strings.CutPrefix(name, "model.layers."); ok && cross != nil {
			idx, tail, _ := strings.Cut(rest, ".")
			i, err := strconv.Atoi(idx)
			if err != nil {
				return fmt.Errorf("text LLM: weight %s: bad layer index", w.Name)
			}
			if slices.Contains(cross, i) {
				continue
			}
			below := 0 // cross-attention layers before i
			for _, c := range cross {
				if c < i {
					below++
				}
			}
			name = fmt.Sprintf("model.layers.%d.%s", i-below, tail)
		}
		if name == "model.embed_tokens.weight" && rows > 0 && t.Dim(0) > rows {
			cut, err := fovea.TensorFromData(t.Data[:rows*t.Dim(1)], rows, t.Dim(1))
			if err != nil {
				return err
			}
			t = cut
		}
		entries = append(entries, fovea.Float32Entry(name, t))
	}
	if len(entries) == 0 {
		return errors.New("text LLM: the model has no language_model.* weights")
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	obj["architectures"] = []string{"LlamaForCausalLM"}
	obj["torch_dtype"] = "float32"
	if err := writeJSON(dir, "config.json", obj); err != nil {
		return err
	}
	if err := fovea.WriteSafetensors(filepath.Join(dir, fovea.WeightsFile), entries, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	for _, name := range textLLMFiles {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return fmt.Errorf("text LLM: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
