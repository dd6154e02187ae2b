package fovea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/durable"
	"github.com/fovea-ml/fovea/internal/fsx"
	"github.com/fovea-ml/fovea/internal/quant"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/tokenizer"
	"github.com/fovea-ml/fovea/vision"
)

// WeightsFile is the safetensors file Save writes.
const WeightsFile = "model.safetensors"

// maxAuxFileBytes caps each side file (config, tokenizer, processor)
// that Load keeps in memory for Save; a bigger one is not kept.
const maxAuxFileBytes = 64 << 20

// auxFiles are the files of an HF model folder besides the weights that
// Load keeps (verbatim) so that Save writes them back: configs, the
// tokenizer and the processor.
func auxFiles() []string {
	return []string{
		config.ConfigFile, config.GenerationConfigFile, vision.PreprocessorConfigFile,
		"processor_config.json", tokenizer.TokenizerJSON, tokenizer.TokenizerConfigJSON,
		"special_tokens_map.json", "added_tokens.json", "chat_template.json", "chat_template.jinja",
		"tokenizer.model",
	}
}

// readAuxFiles reads the side files of dir that exist (see auxFiles);
// tokenizerPath, when it names a tokenizer.json elsewhere, stands in for
// the folder's. Unreadable or oversized files are skipped: they only
// matter to Save, which then writes what it can rebuild.
func readAuxFiles(dir, tokenizerPath string) map[string][]byte {
	out := map[string][]byte{}
	read := func(name, path string) {
		// Missing or unreadable files are left out here; the loaders that
		// need them report the error. fsx never blocks on a FIFO or device.
		if b, err := fsx.ReadFile(path, maxAuxFileBytes); err == nil {
			out[name] = b
		}
	}
	for _, name := range auxFiles() {
		read(name, filepath.Join(dir, name))
	}
	if tokenizerPath != "" && filepath.Ext(tokenizerPath) == ".json" {
		read(tokenizer.TokenizerJSON, tokenizerPath)
	}
	return out
}

// SaveOption adjusts Save.
type SaveOption func(*saveOptions)

type saveOptions struct {
	extra []extraFile
}

type extraFile struct {
	name  string
	write func(path string) error
}

// WithExtraFile has Save write one more file, name (a plain file name),
// into the folder before it is published: write is called with the file's
// path inside the temporary folder and must leave the file complete and
// synced. Trainers keep their state next to the weights this way, so that
// a checkpoint and its state appear together or not at all.
func WithExtraFile(name string, write func(path string) error) SaveOption {
	return func(o *saveOptions) { o.extra = append(o.extra, extraFile{name, write}) }
}

// Save writes the model as an HF folder that Load and HF transformers'
// from_pretrained read: config.json, model.safetensors (F32, HF's legacy
// tensor names — "language_model.model.*", "language_model.lm_head.weight",
// "vision_tower.*", "multi_modal_projector.*" for LLaVA, HF's own names
// for Mllama, Llama and CLIP — with __metadata__ {"format": "pt"}; a tied
// LM head is not written, as HF's save_pretrained drops it), and the side
// files the model was loaded with (generation and preprocessor configs,
// tokenizer files; a trained byte-level tokenizer without a file is
// written as tokenizer.json).
//
// Everything is first written into a temporary folder next to dir and
// each file fsynced. When dir is new, or holds only model files (the files
// Save writes, the shards and index of a sharded checkpoint, and the side
// files Load reads), the folder is renamed to dir (an existing dir is
// first renamed aside, then removed), so readers see the old folder or the
// new one, never a partial one; between the two renames dir is briefly
// absent, and a crash there leaves the old folder next to dir as
// ".<name>.old-*". When dir also holds other files (a dataset, notes, a
// project), nothing of them is touched: the new files replace the old ones
// one by one, each atomically (config.json last), and the model files of
// an earlier save that this one does not write (stale shards, an index, a
// tokenizer.model) are removed. A model loaded with Q8_0 cannot be saved
// (its float32 weights are gone); one loaded with the default F32 is
// saved from its packed copy, exactly.
func (m *Model) Save(ctx context.Context, dir string, opts ...SaveOption) error {
	o := &saveOptions{}
	for _, opt := range opts {
		opt(o)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := m.weightEntries()
	if err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	published := false
	defer func() {
		if !published {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := safetensors.WriteEntries(filepath.Join(tmp, WeightsFile), entries, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	files, err := m.sideFiles()
	if err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	for name, data := range files {
		if err := durable.WriteFile(filepath.Join(tmp, name), data); err != nil {
			return fmt.Errorf("fovea: save %s: %w", dir, err)
		}
	}
	for _, e := range o.extra {
		if e.name != filepath.Base(e.name) || e.name == "." || e.name == ".." {
			return fmt.Errorf("fovea: save %s: extra file %q is not a plain file name", dir, e.name)
		}
		if err := e.write(filepath.Join(tmp, e.name)); err != nil {
			return fmt.Errorf("fovea: save %s: %s: %w", dir, e.name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := syncPath(tmp); err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	foreign, err := foreignEntries(dir, tmp)
	if err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	publish := publishDir
	if foreign {
		publish = publishFiles
	}
	if err := publish(tmp, dir); err != nil {
		return fmt.Errorf("fovea: save %s: %w", dir, err)
	}
	published = true
	return nil
}

// isModelFile reports whether name is a file of an HF model folder that
// Save writes or Load reads: the weights (one file or shards and their
// index) and the side files.
func isModelFile(name string) bool {
	if name == WeightsFile || name == safetensors.IndexFileName {
		return true
	}
	if ok, _ := filepath.Match("model-*-of-*.safetensors", name); ok {
		return true
	}
	for _, a := range auxFiles() {
		if name == a {
			return true
		}
	}
	return false
}

// foreignEntries reports whether dir holds an entry that is neither a
// model file nor one of the files just written into tmp (a trainer's
// state file, say): such a folder is updated file by file, never replaced.
// A missing dir holds nothing.
func foreignEntries(dir, tmp string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if isModelFile(e.Name()) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(tmp, e.Name())); err == nil {
			continue
		}
		return true, nil
	}
	return false, nil
}

// publishFiles moves the finished files of tmp into dir one by one (each
// rename atomic; config.json last, so a reader sees the old config until
// the weights it describes are in place), removes the model files of an
// earlier save that tmp does not hold, and removes tmp. Every other entry
// of dir is left as it was.
func publishFiles(tmp, dir string) error {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	written := map[string]bool{}
	var last []string
	for _, e := range ents {
		written[e.Name()] = true
		if e.Name() == config.ConfigFile {
			last = append(last, e.Name())
			continue
		}
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range old {
		if !e.Type().IsRegular() || written[e.Name()] || !isModelFile(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	for _, name := range last {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if err := syncPath(dir); err != nil {
		return err
	}
	return os.Remove(tmp)
}

// weightEntries lists every weight as an F32 safetensors entry under its
// checkpoint name (a tied tensor once, under its first name).
func (m *Model) weightEntries() ([]safetensors.Entry, error) {
	var table map[*tensor.Tensor]backend.PreparedMatrix
	if e, ok := m.b.(backend.Eager); ok {
		table = e.Prepared
	}
	parts := m.Parts()
	entries := make([]safetensors.Entry, 0, len(parts.Weights))
	for _, nt := range parts.Weights {
		t := nt.Tensor
		if t.Data == nil && tensor.Numel(t.Shape) > 0 {
			pm, ok := table[t]
			if !ok {
				return nil, fmt.Errorf("weight %s %v has no data", nt.Name, t.Shape)
			}
			if _, lossy := pm.(*quant.Q8Matrix); lossy {
				return nil, fmt.Errorf("weight %s is stored as Q8_0 and its float32 values are gone: load the model with F32 (the default) or ForTraining to save it", nt.Name)
			}
			t = unpack(t.Shape, pm)
		}
		if tensor.Numel(t.Shape) != len(t.Data) {
			return nil, fmt.Errorf("weight %s has shape %v but %d values", nt.Name, t.Shape, len(t.Data))
		}
		entries = append(entries, safetensors.Float32Entry(nt.Name, t))
	}
	return entries, nil
}

// unpack rebuilds the row-major [Out, In] matrix of a packed float32
// weight, row by row (exact: packing only moves the values).
func unpack(shape []int, pm backend.PreparedMatrix) *tensor.Tensor {
	out, in := pm.Dims()
	t := tensor.New(shape...)
	for i := range out {
		pm.Row(i, t.Data[i*in:(i+1)*in])
	}
	return t
}

// sideFiles returns the non-weight files of the folder: those Load kept,
// else what can be rebuilt (config.json from the parsed config, a
// byte-level tokenizer as tokenizer.json).
func (m *Model) sideFiles() (map[string][]byte, error) {
	files := map[string][]byte{}
	for name, data := range m.aux {
		files[name] = data
	}
	if _, ok := files[config.ConfigFile]; !ok {
		data, err := marshalConfig(m.cfg)
		if err != nil {
			return nil, err
		}
		files[config.ConfigFile] = data
	}
	if _, ok := files[config.GenerationConfigFile]; !ok && m.gen != nil {
		data, err := json.MarshalIndent(m.gen, "", "  ")
		if err != nil {
			return nil, err
		}
		files[config.GenerationConfigFile] = data
	}
	if _, ok := files[tokenizer.TokenizerJSON]; !ok && m.tok != nil {
		var buf bytes.Buffer
		if err := m.tok.WriteJSON(&buf); err == nil { // only byte-level vocabularies can be written
			files[tokenizer.TokenizerJSON] = buf.Bytes()
		}
	}
	return files, nil
}

// marshalConfig writes the parsed config back as config.json.
func marshalConfig(c *config.Model) ([]byte, error) {
	var v any
	switch {
	case c == nil:
		return nil, errors.New("no config")
	case c.Llava != nil:
		v = c.Llava
	case c.Mllama != nil:
		v = c.Mllama
	case c.Llama != nil:
		v = c.Llama
	case c.CLIPVision != nil:
		v = c.CLIPVision
	default:
		return nil, fmt.Errorf("config of model_type %q has no body", c.ModelType)
	}
	return json.MarshalIndent(v, "", "  ")
}

// syncPath fsyncs a file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// publishDir renames the finished folder tmp to dir. An existing dir is
// first renamed aside and removed after the new folder is in place, so
// dir is never a partial folder (it is absent between the two renames).
func publishDir(tmp, dir string) error {
	var old string
	if _, err := os.Lstat(dir); err == nil {
		o, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".old-")
		if err != nil {
			return err
		}
		if err := os.Remove(o); err != nil {
			return err
		}
		if err := os.Rename(dir, o); err != nil {
			return err
		}
		old = o
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		return err
	}
	if err := syncPath(filepath.Dir(dir)); err != nil {
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}
