package decoder

import (
	"context"
	"errors"
	"fmt"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Layer is one block of the decoder stack. Self-attention blocks and the
// cross-attention blocks of package crossattn both implement it.
type Layer interface {
	// NewState returns this layer's run state for a batch (KV cache, image K/V, ...); may be nil.
	NewState(batch int) any
	// Forward maps x [B, T, D] to [B, T, D]; pos holds the absolute positions of the T new tokens.
	Forward(b Backend, x Value, pos []int, state any) Value
}

// Model is HF's LlamaForCausalLM: token embeddings, a stack of layers, a
// final RMSNorm and the LM head. It holds weights and geometry only; all
// run state lives in a State.
type Model struct {
	EmbedTokens *Tensor `weight:"embed_tokens.weight"` // [rows, D], rows ≥ V
	Layers      []Layer
	Norm        *Tensor `weight:"norm.weight"` // [D]
	// LMHead [V, D]; the same tensor as EmbedTokens when tie_word_embeddings
	// (then EmbedTokens must have exactly V rows).
	LMHead *Tensor

	cfg  config.Llama
	rope *backend.RoPE
}

// Option adjusts New / NewWithLayers.
type Option func(*options)

type options struct {
	embedRows int
}

// WithEmbedRows sets the number of rows of the embedding table when it
// differs from vocab_size (Mllama: vocab_size + 8). The LM head keeps
// vocab_size rows.
func WithEmbedRows(n int) Option { return func(o *options) { o.embedRows = n } }

// NewRoPE returns the rotary frequencies a Llama config asks for: plain,
// or llama3-scaled per rope_scaling.
func NewRoPE(cfg *Config) (*RoPE, error) {
	var l3 *backend.Llama3Scaling
	if rs := cfg.RopeScaling; rs != nil && rs.RopeType == config.RopeLlama3 {
		l3 = &backend.Llama3Scaling{
			Factor: rs.Factor, LowFreqFactor: rs.LowFreqFactor,
			HighFreqFactor: rs.HighFreqFactor, OriginalMaxPos: rs.OriginalMaxPositionEmbeddings,
		}
	}
	r, err := backend.NewRoPE(cfg.HeadDim(), cfg.RopeTheta, l3)
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return r, nil
}

// NewBlock allocates one Llama decoder layer for cfg sharing the rotary
// frequencies rope.
func NewBlock(cfg *Config, rope *RoPE) (*Block, error) {
	act, err := backend.ParseAct(cfg.HiddenAct)
	if err != nil {
		return nil, fmt.Errorf("decoder: hidden_act: %w", err)
	}
	d, eps := cfg.HiddenSize, float32(cfg.RMSNormEps)
	return &Block{
		InputNorm:    NewRMSNorm(d, eps),
		Attn:         NewAttention(d, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim(), rope, cfg.AttentionBias),
		PostAttnNorm: NewRMSNorm(d, eps),
		MLP:          NewMLP(d, cfg.IntermediateSize, act, cfg.MLPBias),
	}, nil
}

// New allocates a Llama model whose layers are all Blocks. Weights are
// zero until Load.
func New(cfg *Config, opts ...Option) (*Model, error) {
	if cfg == nil {
		return nil, errors.New("decoder: nil config")
	}
	return NewWithLayers(cfg, make([]Layer, cfg.NumHiddenLayers), opts...)
}

// NewWithLayers allocates a model with caller-supplied layers: a nil entry
// becomes a Block, any other entry is used as is (Mllama's cross-attention
// layers). len(layers) must equal num_hidden_layers.
func NewWithLayers(cfg *Config, layers []Layer, opts ...Option) (*Model, error) {
	if cfg == nil {
		return nil, errors.New("decoder: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if len(layers) != cfg.NumHiddenLayers {
		return nil, fmt.Errorf("decoder: %d layers given for num_hidden_layers %d", len(layers), cfg.NumHiddenLayers)
	}
	o := options{embedRows: cfg.VocabSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.embedRows < cfg.VocabSize {
		return nil, fmt.Errorf("decoder: embedding rows %d below vocab_size %d", o.embedRows, cfg.VocabSize)
	}
	if cfg.TieWordEmbeddings && o.embedRows != cfg.VocabSize {
		return nil, fmt.Errorf("decoder: tie_word_embeddings needs %d embedding rows, got %d", cfg.VocabSize, o.embedRows)
	}
	rope, err := NewRoPE(cfg)
	if err != nil {
		return nil, err
	}
	m := &Model{
		EmbedTokens: tensor.New(o.embedRows, cfg.HiddenSize),
		Layers:      make([]Layer, len(layers)),
		Norm:        tensor.New(cfg.HiddenSize),
		cfg:         *cfg,
		rope:        rope,
	}
	for i, l := range layers {
		if l == nil {
			blk, err := NewBlock(cfg, rope)
			if err != nil {
				return nil, err
			}
			l = blk
		}
		m.Layers[i] = l
	}
	if cfg.TieWordEmbeddings {
		m.LMHead = m.EmbedTokens
	} else {
		m.LMHead = tensor.New(cfg.VocabSize, cfg.HiddenSize)
	}
	return m, nil
}

// Config returns the model's configuration.
func (m *Model) Config() *Config { return &m.cfg }

// Rope returns the rotary frequencies shared by the Blocks.
func (m *Model) Rope() *RoPE { return m.rope }

// State is the run state of one batch of B sequences of equal length: each
// layer's state (KV caches, image K/V) and the number of positions consumed.
// Several sequences at once means B > 1 with the same length.
type State struct {
	// Layers holds one state per layer (from Layer.NewState; may be nil).
	Layers []any
	pos    int
	batch  int
}

// NewState returns an empty run state for batch sequences.
func (m *Model) NewState(batch int) *State {
	st := &State{Layers: make([]any, len(m.Layers)), batch: batch}
	for i, l := range m.Layers {
		st.Layers[i] = l.NewState(batch)
	}
	return st
}

// NewTrainState returns a run state whose layers keep nothing between
// calls (no KV cache): each Forward attends over its own input only. It is
// what whole-sequence training on the graph backend uses, since a graph
// has static shapes and no cache.
func (m *Model) NewTrainState(batch int) *State {
	return &State{Layers: make([]any, len(m.Layers)), batch: batch}
}

// Pos is the number of positions consumed: the position of the next token.
func (s *State) Pos() int { return s.pos }

// Batch is the number of sequences.
func (s *State) Batch() int { return s.batch }

// Reserve asks every layer state that can (a *KVCache does) to
// hold n positions without growing.
func (s *State) Reserve(n int) {
	for _, ls := range s.Layers {
		if r, ok := ls.(interface{ Reserve(int) }); ok {
			r.Reserve(n)
		}
	}
}

// Embed looks up token ids [B][T] (equal lengths) → [B, T, D].
func (m *Model) Embed(b Backend, ids [][]int) (Value, error) {
	if len(ids) == 0 || len(ids[0]) == 0 {
		return nil, errors.New("decoder: Embed needs at least one sequence of at least one token")
	}
	t := len(ids[0])
	flat := make([]int, 0, len(ids)*t)
	rows := m.EmbedTokens.Shape[0]
	for i, seq := range ids {
		if len(seq) != t {
			return nil, fmt.Errorf("decoder: sequence %d has %d tokens, sequence 0 has %d (a batch needs equal lengths)", i, len(seq), t)
		}
		for j, id := range seq {
			if id < 0 || id >= rows {
				return nil, fmt.Errorf("decoder: token id %d at [%d][%d] outside the embedding table of %d rows", id, i, j, rows)
			}
		}
		flat = append(flat, seq...)
	}
	e := b.Embedding(b.Weight(m.EmbedTokens), flat)         // [B·T, D]
	return b.Reshape(e, len(ids), t, m.cfg.HiddenSize), nil // [B, T, D]
}

// check validates x [B, T, D] against st and the context length and
// returns the positions of the T new tokens.
func (m *Model) check(b Backend, x Value, st *State) ([]int, error) {
	if st == nil {
		return nil, errors.New("decoder: nil State")
	}
	s := b.Shape(x)
	if len(s) != 3 || s[2] != m.cfg.HiddenSize || s[1] < 1 {
		return nil, fmt.Errorf("decoder: input embeddings %v, want [B, T≥1, %d]", s, m.cfg.HiddenSize)
	}
	if s[0] != st.batch {
		return nil, fmt.Errorf("decoder: input batch %d for a State of batch %d", s[0], st.batch)
	}
	if len(st.Layers) != len(m.Layers) {
		return nil, fmt.Errorf("decoder: State has %d layer states for %d layers", len(st.Layers), len(m.Layers))
	}
	t := s[1]
	if limit := m.cfg.MaxPositionEmbeddings; st.pos+t > limit {
		return nil, fmt.Errorf("decoder: %d cached + %d new positions exceed max_position_embeddings %d", st.pos, t, limit)
	}
	pos := make([]int, t)
	for i := range pos {
		pos[i] = st.pos + i
	}
	return pos, nil
}

// run passes x [B, T, D] through every layer and the final norm, advancing
// st. When hidden is non-nil it collects HF's hidden_states.
func (m *Model) run(ctx context.Context, b Backend, x Value, st *State, hidden *[]Value) (Value, error) {
	pos, err := m.check(b, x, st)
	if err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("decoder: stopped before layer %d: %w (the State is spoiled)", i, err)
		}
		if hidden != nil {
			*hidden = append(*hidden, x) // HF: the input of layer i (embeddings for i = 0)
		}
		x = l.Forward(b, x, pos, st.Layers[i]) // [B, T, D]
	}
	st.pos += len(pos)
	x = b.RMSNorm(x, b.Weight(m.Norm), float32(m.cfg.RMSNormEps)) // [B, T, D]
	if hidden != nil {
		*hidden = append(*hidden, x) // HF: the last entry is after the final norm
	}
	return x, nil
}

// Hidden runs embeds [B, T, D] through the stack and the final norm →
// [B, T, D], advancing st by T positions. No LM head.
func (m *Model) Hidden(b Backend, embeds Value, st *State) (Value, error) {
	return m.run(context.Background(), b, embeds, st, nil)
}

// Logits applies the LM head: h [B, T, D] → [B, T, V].
func (m *Model) Logits(b Backend, h Value) Value {
	return b.Linear(h, b.Weight(m.LMHead), nil)
}

// Forward maps embeds [B, T, D] to logits [B, T, V], advancing st by T
// positions. It fails, leaving st untouched, when the input does not
// match the model or State, or when the positions would pass
// max_position_embeddings.
func (m *Model) Forward(b Backend, embeds Value, st *State) (Value, error) {
	h, err := m.run(context.Background(), b, embeds, st, nil)
	if err != nil {
		return nil, err
	}
	return m.Logits(b, h), nil // [B, T, V]
}

// ForwardHidden is Forward that also returns HF's hidden_states: entry 0
// is embeds, entry i the output of layer i-1, and the last entry (index
// len(Layers)) the output of the final norm, all [B, T, D].
func (m *Model) ForwardHidden(b Backend, embeds Value, st *State) (logits Value, hidden []Value, err error) {
	hidden = make([]backend.Value, 0, len(m.Layers)+1)
	h, err := m.run(context.Background(), b, embeds, st, &hidden)
	if err != nil {
		return nil, nil, err
	}
	return m.Logits(b, h), hidden, nil
}
