package fovea

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"time"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/tokenizer"
	"github.com/fovea-ml/fovea/vision"
)

// Kind names a model architecture: the model_type of config.json.
type Kind string

// The architectures Load understands.
const (
	KindLlama      Kind = "llama"             // LlamaForCausalLM
	KindCLIPVision Kind = "clip_vision_model" // CLIPVisionModel
	KindLlava      Kind = "llava"             // LlavaForConditionalGeneration
	KindMllama     Kind = "mllama"            // MllamaForConditionalGeneration (Llama-3.2-Vision)
)

// File names Load looks for in a model folder.
const (
	tokenizerGGUFExt = ".gguf"
)

// DefaultMaxNewTokens is used when a Request sets no MaxNewTokens and the
// generation config names none (decoder.OptionsFromGeneration).
const DefaultMaxNewTokens = decoder.DefaultMaxNewTokens

// Pixels is preprocessed image input, as the model folder's image
// processor makes it (PreprocessImages), or image features already
// computed by EncodeImages.
type Pixels struct {
	// Values are the pixel values: [N, 3, S, S] for CLIP and LLaVA,
	// [1, N, tiles, 3, S, S] for Mllama.
	Values *Tensor
	// Mllama holds an Mllama model's side inputs (nil for the others).
	Mllama *MllamaInputs
	// Features, when set, are the output of EncodeImages for these images:
	// prefill uses them instead of running the vision tower again (Values
	// may then be nil, except that Mllama still needs its side inputs).
	Features *Tensor
}

// architecture is what each model_type implements (llama.go, clip.go,
// llava.go); the loader table in loaders maps model_type to a constructor.
// Implementations are immutable after loading: every call builds its own
// run state, so one Model serves concurrent calls.
type architecture interface {
	kind() Kind
	// textDecoder is the language model, nil for a vision-only model.
	textDecoder() *decoder.Model
	// preprocess turns decoded images into pixel input.
	preprocess(imgs []image.Image) (*Pixels, error)
	// prefill turns prompt ids and pixel input (nil: no images) into the
	// decoder input: the final ids (image placeholders expanded),
	// embeddings [1, T, D] and a fresh run state ready for them.
	prefill(ctx context.Context, b backend.Backend, ids []int, px *Pixels) (*prefilled, error)
	// weightParts lists the loaded weights with their checkpoint prefixes.
	weightParts() []weightPart
}

// prefilled is a decoder input ready to run.
type prefilled struct {
	ids    []int         // the whole sequence (image placeholders expanded)
	cached int           // of which a Session's state already held the first cached
	embeds backend.Value // [1, T - cached, D]
	state  *decoder.State
}

// loadContext is what a loader gets: the folder, its parsed config and
// the open checkpoint.
type loadContext struct {
	dir  string
	cfg  *config.Model
	src  *safetensors.File
	opts *options
}

// loaderFunc builds one architecture from a model folder.
type loaderFunc func(ctx context.Context, lc *loadContext) (architecture, error)

// loaders maps model_type to its loader. Adding an architecture is one
// file with its loader plus one line here.
func loaders() map[string]loaderFunc {
	return map[string]loaderFunc{
		config.ModelTypeLlama:      loadLlama,
		config.ModelTypeCLIPVision: loadCLIP,
		config.ModelTypeLlava:      loadLlava,
		config.ModelTypeMllama:     loadMllama,
	}
}

// Option adjusts Load.
type Option func(*options)

type options struct {
	tokenizerPath string
	noTokenizer   bool
	quant         Quantization
	// allowNonFinite accepts NaN/Inf weights (AllowNonFinite, finite.go).
	allowNonFinite bool
	// maxInitValues bounds NewFromConfig's allocation (budget.go).
	maxInitValues int64
}

// WithQuantization stores the Linear weights as q (default F32). Weights
// whose input width is not a multiple of the block size stay float32.
func WithQuantization(q Quantization) Option { return func(o *options) { o.quant = q } }

// WithTokenizer loads the tokenizer from path (a tokenizer.json or a
// .gguf file) instead of looking in the model folder.
func WithTokenizer(path string) Option { return func(o *options) { o.tokenizerPath = path } }

// WithoutTokenizer skips the tokenizer: prompts must then be given as ids.
func WithoutTokenizer() Option { return func(o *options) { o.noTokenizer = true } }

// Model is a loaded model folder. It is safe for concurrent use.
type Model struct {
	impl architecture
	cfg  *config.Model
	gen  *config.GenerationConfig
	tok  *tokenizer.Tokenizer
	chat *chatTemplate // nil when the folder has none and no built-in fits
	now  func() time.Time
	b    backend.Backend
	aux  map[string][]byte // side files of the folder, written back by Save
}

// Load reads a model folder: config.json (model_type llama,
// clip_vision_model, llava or mllama), the weights (model.safetensors or a sharded
// model.safetensors.index.json; both HF naming schemes of LLaVA),
// preprocessor_config.json, generation_config.json and a tokenizer when
// present. Every missing or mis-shaped weight is reported in one error.
func Load(ctx context.Context, dir string, opts ...Option) (*Model, error) {
	o, cfg, err := readConfig(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	load, ok := loaders()[cfg.ModelType]
	if !ok {
		return nil, fmt.Errorf("fovea: %s: model_type %q is not supported by this API", dir, cfg.ModelType)
	}
	gen, err := config.LoadGeneration(dir)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	src, err := safetensors.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("fovea: opening weights in %s: %w", dir, err)
	}
	defer src.Close() // weights are copied into the model while binding
	if err := checkWeightBudget(dir, cfg, src); err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	a, err := load(ctx, &loadContext{dir: dir, cfg: cfg, src: src, opts: o})
	if err != nil {
		return nil, fmt.Errorf("fovea: %s: %w", dir, err)
	}
	if !o.allowNonFinite {
		if err := checkFinite(a); err != nil {
			return nil, fmt.Errorf("fovea: %s: %w", dir, err)
		}
	}
	table, err := prepareWeights(a, o.quant)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	releasePrepared(table)
	m := &Model{impl: a, cfg: cfg, gen: gen, b: backend.Eager{Prepared: table}, now: time.Now, aux: readAuxFiles(dir, o.tokenizerPath)}
	if !o.noTokenizer {
		if m.tok, err = loadTokenizer(dir, o.tokenizerPath); err != nil {
			return nil, fmt.Errorf("fovea: %w", err)
		}
		if err := checkVocab(m.tok, a.textDecoder()); err != nil {
			return nil, fmt.Errorf("fovea: %s: %w", dir, err)
		}
	}
	if m.chat, err = loadChatTemplate(dir, m.impl.kind(), m.tok); err != nil {
		return nil, fmt.Errorf("fovea: %s: %w", dir, err)
	}
	return m, nil
}

// readConfig applies opts and reads dir's config.json (unless ctx is
// done): the start of Load and NewFromConfig.
func readConfig(ctx context.Context, dir string, opts []Option) (*options, *config.Model, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("fovea: %w", err)
	}
	return o, cfg, nil
}

// checkVocab refuses a tokenizer with ids the model's embedding table has
// no row for.
func checkVocab(tok *tokenizer.Tokenizer, dec *decoder.Model) error {
	if tok == nil || dec == nil {
		return nil
	}
	if rows := dec.EmbedTokens.Shape[0]; tok.VocabSize() > rows {
		return fmt.Errorf("the tokenizer has %d ids but the model's embedding table has %d rows (vocab_size): they do not belong together", tok.VocabSize(), rows)
	}
	return nil
}

// loadTokenizer loads the explicit path, else dir/tokenizer.json, else
// the first .gguf file in dir. It returns nil when dir has none.
func loadTokenizer(dir, path string) (*tokenizer.Tokenizer, error) {
	if path == "" {
		if _, err := os.Stat(filepath.Join(dir, tokenizer.TokenizerJSON)); err == nil {
			path = filepath.Join(dir, tokenizer.TokenizerJSON)
		} else if matches, _ := filepath.Glob(filepath.Join(dir, "*"+tokenizerGGUFExt)); len(matches) > 0 {
			path = matches[0]
		} else {
			return nil, nil
		}
	}
	return tokenizer.Load(path)
}

// Kind reports the architecture.
func (m *Model) Kind() Kind { return m.impl.kind() }

// Config returns the parsed config.json.
func (m *Model) Config() *Config { return m.cfg }

// Tokenizer returns the tokenizer, or nil when the folder has none.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// PreprocessImages runs the folder's image processor on decoded images.
func (m *Model) PreprocessImages(imgs []image.Image) (*Pixels, error) {
	if len(imgs) == 0 {
		return nil, errors.New("fovea: no images to preprocess")
	}
	return m.impl.preprocess(imgs)
}

// LoadImage decodes an image file (PNG, JPEG, GIF, WebP), refusing
// corrupt files and decompression bombs with an error naming the file.
func LoadImage(path string) (image.Image, error) { return vision.LoadImage(path) }

// Logits runs the model on one prompt: ids (for LLaVA with either one
// image token per image or the expanded form) and pixel input (nil when
// there are no images; see Pixels). It returns logits [1, T, V] for the
// final (expanded) sequence, for every architecture with a language model.
func (m *Model) Logits(ctx context.Context, ids []int, px *Pixels) (*Tensor, error) {
	dec := m.impl.textDecoder()
	if dec == nil {
		return nil, fmt.Errorf("fovea: a %s model has no language model (use VisionOutputs)", m.Kind())
	}
	p, err := m.impl.prefill(ctx, m.b, ids, px)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logits, err := dec.ForwardContext(ctx, m.b, p.embeds, p.state) // [1, T, V]
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return backend.T(logits), nil
}

// checkContext refuses a prompt longer than the decoder's context.
func checkContext(dec *decoder.Model, n int) error {
	if limit := dec.Config().MaxPositionEmbeddings; n > limit {
		return fmt.Errorf("fovea: the prompt has %d tokens, past the context window of %d (max_position_embeddings)", n, limit)
	}
	if n == 0 {
		return errors.New("fovea: empty prompt")
	}
	return nil
}

// embedIDs embeds one prompt: ids → [1, T, D], with a clear error on ids
// outside the vocabulary.
func embedIDs(b backend.Backend, dec *decoder.Model, ids []int) (backend.Value, error) {
	if err := checkContext(dec, len(ids)); err != nil {
		return nil, err
	}
	e, err := dec.Embed(b, [][]int{ids}) // [1, T, D]
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return e, nil
}
