package fovea

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strings"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// LLaVA checkpoint prefixes. Fovea binds the older layout; the newer one
// (transformers ≥ 4.52) is renamed to it once, at load.
const (
	llavaTextPrefix = "language_model.model."
	llavaHeadName   = "language_model.lm_head.weight"
	// placeholderEmbedID stands in for image tokens during the embedding
	// lookup; the splice overwrites those rows.
	placeholderEmbedID = 0
)

// llavaRenames maps newer LLaVA tensor-name prefixes to the older ones.
func llavaRenames() [][2]string {
	return [][2]string{
		{"model.language_model.", llavaTextPrefix},
		{"model.vision_tower.", "vision_tower."},
		{"model.multi_modal_projector.", projector.Prefix},
		{"lm_head.", "language_model.lm_head."},
	}
}

// llavaRename maps one checkpoint name to the older layout.
func llavaRename(name string) string {
	for _, r := range llavaRenames() {
		if strings.HasPrefix(name, r[0]) {
			return r[1] + strings.TrimPrefix(name, r[0])
		}
	}
	return name
}

// llava is LlavaForConditionalGeneration: CLIP tower, projector, Llama.
type llava struct {
	cfg   config.Llava
	tower *vision.CLIPVision
	proj  *projector.Projector
	pcfg  projector.Config
	dec   *decoder.Model
	pre   *vision.CLIPPreprocessorConfig
}

func loadLlava(_ context.Context, lc *loadContext) (architecture, error) {
	cfg := lc.cfg.Llava
	l := &llava{cfg: *cfg, pcfg: projector.FromLlava(cfg)}
	var err error
	if l.tower, err = vision.NewCLIPVision(&cfg.VisionConfig); err != nil {
		return nil, err
	}
	has := func(name string) bool {
		for _, n := range lc.src.Names() {
			if llavaRename(n) == name {
				return true
			}
		}
		return false
	}
	if l.proj, err = projector.New(l.pcfg, projector.VariantFromWeights(has, projector.Prefix)); err != nil {
		return nil, err
	}
	if l.dec, err = decoder.New(&cfg.TextConfig); err != nil {
		return nil, err
	}
	bd := weights.NewBinder(lc.src, weights.ReportAll(), weights.Rename(llavaRename),
		weights.Ignore(vision.CLIPIgnore(vision.LlavaCLIPPrefix)...))
	_ = bd.Bind(vision.LlavaCLIPPrefix, l.tower) // problems recorded for Finish
	_ = bd.Bind(projector.Prefix, l.proj)
	bindErr := l.dec.BindTo(bd, llavaTextPrefix, llavaHeadName)
	if err := errors.Join(bd.Finish(), bindErr); err != nil {
		return nil, err
	}
	if l.pre, err = loadCLIPPreprocessor(lc.dir, &cfg.VisionConfig); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *llava) kind() Kind                  { return KindLlava }
func (l *llava) textDecoder() *decoder.Model { return l.dec }
func (l *llava) preprocess(imgs []image.Image) (*Pixels, error) {
	return clipPreprocess(l.pre, imgs)
}

func (l *llava) visionOutputs(ctx context.Context, b Backend, px *Pixels) (*VisionOutput, error) {
	return runTower(ctx, b, l.tower, px)
}

// encodeImages is LlavaForConditionalGeneration.get_image_features:
// CLIP up to the deepest selected layer, feature selection, projector.
// px [N, 3, S, S] → [N, P, D]. Features computed before are checked and
// used as they are.
func (l *llava) encodeImages(ctx context.Context, b Backend, px *Pixels) (Value, error) {
	if px != nil && px.Features != nil {
		f := px.Features
		want := []int{-1, l.cfg.ImageFeatureTokens(), l.cfg.TextConfig.HiddenSize}
		if f.Dims() != 3 || f.Shape[1] != want[1] || f.Shape[2] != want[2] || len(f.Data) != f.Shape[0]*want[1]*want[2] {
			return nil, fmt.Errorf("fovea: image features %v (%d values), want [N, %d, %d] as EncodeImages returns", f.Shape, len(f.Data), want[1], want[2])
		}
		if err := checkFeatureValues(f); err != nil {
			return nil, err
		}
		return b.Const(f), nil
	}
	if px == nil || px.Values == nil {
		return nil, errors.New("fovea: no pixel values")
	}
	if err := l.tower.CheckPixelValues(px.Values); err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hidden, err := l.tower.HiddenStatesContext(ctx, b, b.Const(px.Values), l.pcfg.MaxLayer()) // each [N, P+1, Dv]
	if err != nil {
		return nil, err
	}
	feat, err := projector.SelectFeatures(b, hidden, l.pcfg) // [N, P, Dv·L]
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return l.proj.Forward(b, feat), nil // [N, P, D]
}

func (l *llava) prefill(ctx context.Context, b Backend, ids []int, px *Pixels) (*prefilled, error) {
	n := 0
	switch {
	case px == nil:
	case px.Features != nil && px.Features.Dims() > 0:
		n = px.Features.Shape[0]
	case px.Values != nil && px.Values.Dims() > 0:
		n = px.Values.Shape[0]
	default:
		return nil, errors.New("fovea: pixel input without values")
	}
	tok := l.cfg.ImageTokenIndex
	full, _, err := projector.ExpandImageTokens(ids, tok, l.cfg.ImageSeqLength, l.cfg.ImageFeatureTokens(), n)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	if err := checkContext(l.dec, len(full)); err != nil {
		return nil, err
	}
	// Image positions are overwritten by the splice; embedding them as
	// placeholderEmbedID keeps an image token outside the table harmless.
	text := append([]int(nil), full...)
	for i, id := range text {
		if id == tok {
			text[i] = placeholderEmbedID
		}
	}
	e, err := embedIDs(b, l.dec, text) // [1, T, D]
	if err != nil {
		return nil, err
	}
	if n > 0 {
		feat, err := l.encodeImages(ctx, b, px) // [N, P, D]
		if err != nil {
			return nil, err
		}
		d := l.cfg.TextConfig.HiddenSize
		rows, err := projector.Splice(b, b.Reshape(e, len(full), d), full, tok, feat) // [T, D]
		if err != nil {
			return nil, fmt.Errorf("fovea: %w", err)
		}
		e = b.Reshape(rows, 1, len(full), d) // [1, T, D]
	}
	return &prefilled{ids: full, embeds: e, state: l.dec.NewState(1)}, nil
}

// imageEncoder is implemented by architectures that turn images into
// language-model features.
type imageEncoder interface {
	encodeImages(ctx context.Context, b Backend, px *Pixels) (Value, error)
}

// EncodeImages returns the image features the language model sees: for
// LLaVA the projector output [N, P, D] (P = image tokens per image), for
// Mllama the cross_attention_states [1, N·tiles·P, D]. Set them as
// Pixels.Features to reuse them in later calls without running the vision
// tower again.
func (m *Model) EncodeImages(ctx context.Context, px *Pixels) (*Tensor, error) {
	ie, ok := m.impl.(imageEncoder)
	if !ok {
		return nil, fmt.Errorf("fovea: a %s model has no image-to-text features", m.Kind())
	}
	v, err := ie.encodeImages(ctx, m.b, px)
	if err != nil {
		return nil, err
	}
	return backend.T(v), nil
}

func (l *llava) weightParts() []weightPart {
	return append(decoderParts(l.dec, llavaTextPrefix, llavaHeadName),
		weightPart{vision.LlavaCLIPPrefix, l.tower}, weightPart{projector.Prefix, l.proj})
}
