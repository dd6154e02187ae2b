package decoder

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/fovea-ml/fovea/internal/weights"
)

// LayerBinder is implemented by layers that bind their own weights (for
// example when their tensor names do not follow struct tags). Layers
// without it are bound by walking their struct tags.
type LayerBinder interface {
	Bind(b *Binder, prefix string) error
}

// bodyPrefixSuffix is the HF name of the decoder body under a *ForCausalLM
// root ("model." for Llama, "language_model.model." inside LLaVA/Mllama).
const bodyPrefixSuffix = "model."

// headName is the LM head's tensor name relative to the *ForCausalLM root.
const headName = "lm_head.weight"

// weightSuffix ends every weight tensor name.
const weightSuffix = "weight"

// Load fills the model from src. prefix names the decoder body ("model."
// for LlamaForCausalLM, "language_model.model." inside LLaVA); the LM head
// is read from the same root: prefix without its trailing "model." plus
// "lm_head.weight". Every missing, unexpected or mis-shaped tensor is
// reported in one error.
func (m *Model) Load(src WeightSource, prefix string, opts ...WeightOption) error {
	root := strings.TrimSuffix(prefix, bodyPrefixSuffix)
	bd := weights.NewBinder(src, opts...)
	bindErr := m.BindTo(bd, prefix, root+headName)
	return errors.Join(bd.Finish(), bindErr)
}

// headSlot binds the LM head at its own root name.
type headSlot struct {
	W *Tensor `weight:"weight"`
}

// tiedHeadSlot claims a redundant lm_head tensor of a tied checkpoint
// without using it (HF re-ties lm_head to the embeddings after loading).
type tiedHeadSlot struct {
	W *Tensor `weight:"weight,optional"`
}

// BindTo registers the model's tensors with a shared Binder: the body under
// prefix, the LM head under the full name head. Problems are reported by
// bd.Finish; the returned error covers what the binder cannot see (bias
// tensors present or absent against attention_bias / mlp_bias).
func (m *Model) BindTo(bd *Binder, prefix, head string) error {
	_ = bd.Bind(prefix, m) // EmbedTokens and Norm; recorded for Finish
	for i, l := range m.Layers {
		lp := prefix + "layers." + strconv.Itoa(i) + "."
		if lb, ok := l.(LayerBinder); ok {
			if err := lb.Bind(bd, lp); err != nil {
				return fmt.Errorf("decoder: layer %d: %w", i, err)
			}
			continue
		}
		_ = bd.Bind(lp, l)
	}
	if !strings.HasSuffix(head, weightSuffix) {
		return fmt.Errorf("decoder: LM head name %q does not end in %q", head, weightSuffix)
	}
	headPrefix := strings.TrimSuffix(head, weightSuffix)
	if m.cfg.TieWordEmbeddings {
		_ = bd.Bind(headPrefix, &tiedHeadSlot{})
		m.LMHead = m.EmbedTokens
	} else {
		_ = bd.Bind(headPrefix, &headSlot{W: m.LMHead})
	}
	return m.checkBiases(prefix)
}

// checkBiases compares the optional bias tensors the binder found with
// what the config promises.
func (m *Model) checkBiases(prefix string) error {
	var errs []error
	check := func(name string, t *tensor.Tensor, want bool) {
		switch {
		case want && t == nil:
			errs = append(errs, fmt.Errorf("decoder: missing tensor %s", name))
		case !want && t != nil:
			errs = append(errs, fmt.Errorf("decoder: unexpected tensor %s (config has no bias)", name))
		}
	}
	for i, l := range m.Layers {
		blk, ok := l.(*Block)
		if !ok {
			continue
		}
		lp := prefix + "layers." + strconv.Itoa(i) + "."
		ab, mb := m.cfg.AttentionBias, m.cfg.MLPBias
		a, f := &blk.Attn, &blk.MLP
		check(lp+"self_attn.q_proj.bias", a.QBias, ab)
		check(lp+"self_attn.k_proj.bias", a.KBias, ab)
		check(lp+"self_attn.v_proj.bias", a.VBias, ab)
		check(lp+"self_attn.o_proj.bias", a.OBias, ab)
		check(lp+"mlp.gate_proj.bias", f.GateBias, mb)
		check(lp+"mlp.up_proj.bias", f.UpBias, mb)
		check(lp+"mlp.down_proj.bias", f.DownBias, mb)
	}
	return errors.Join(errs...)
}
