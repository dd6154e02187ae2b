package fovea

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/vision"
)

// clipVision is a CLIPVisionModel folder: an image encoder, no text.
type clipVision struct {
	tower *vision.CLIPVision
	pre   *vision.CLIPPreprocessorConfig // nil when the folder has none
}

func loadCLIP(_ context.Context, lc *loadContext) (architecture, error) {
	tower, err := vision.NewCLIPVision(lc.cfg.CLIPVision)
	if err != nil {
		return nil, err
	}
	bd := weights.NewBinder(lc.src, weights.ReportAll(), weights.Ignore(vision.CLIPIgnore(vision.CLIPPrefix)...))
	_ = bd.Bind(vision.CLIPPrefix, tower) // recorded for Finish
	if err := bd.Finish(); err != nil {
		return nil, err
	}
	pre, err := loadCLIPPreprocessor(lc.dir, lc.cfg.CLIPVision)
	if err != nil {
		return nil, err
	}
	return &clipVision{tower: tower, pre: pre}, nil
}

// loadCLIPPreprocessor reads preprocessor_config.json; a folder without
// one loads, and preprocessing images then fails with a clear error.
func loadCLIPPreprocessor(dir string, vc *config.CLIPVision) (*vision.CLIPPreprocessorConfig, error) {
	pc, err := vision.LoadPreprocessorConfig(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	clip, ok := pc.(*vision.CLIPPreprocessorConfig)
	if !ok {
		return nil, fmt.Errorf("preprocessor_config.json is a %s, this model needs a CLIP image processor", pc.ProcessorType())
	}
	if err := clip.CheckTower(vc); err != nil {
		return nil, err
	}
	return clip, nil
}

// clipPreprocess runs pre on imgs → [N, 3, S, S].
func clipPreprocess(pre *vision.CLIPPreprocessorConfig, imgs []image.Image) (*Pixels, error) {
	if pre == nil {
		return nil, errors.New("fovea: the model folder has no preprocessor_config.json: pass preprocessed pixel values")
	}
	v, err := pre.PreprocessBatch(imgs)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return &Pixels{Values: v}, nil
}

func (c *clipVision) kind() Kind                  { return KindCLIPVision }
func (c *clipVision) textDecoder() *decoder.Model { return nil }
func (c *clipVision) preprocess(imgs []image.Image) (*Pixels, error) {
	return clipPreprocess(c.pre, imgs)
}

func (c *clipVision) prefill(context.Context, backend.Backend, []int, *Pixels) (*prefilled, error) {
	return nil, errors.New("fovea: a clip_vision_model has no language model")
}

// VisionOutput is what a vision encoder returns for a batch of images.
type VisionOutput struct {
	// Hidden are the encoder's hidden states [N, P+1, D]: entry 0 after
	// the embeddings (and pre_layrnorm), entry i after layer i-1.
	Hidden []*Tensor
	// LastHidden is last_hidden_state [N, P+1, D].
	LastHidden *Tensor
	// Pooled is pooler_output [N, D] (nil for Mllama, which has no pooler).
	Pooled *Tensor
}

// visionEncoder is implemented by architectures with a CLIP tower.
type visionEncoder interface {
	visionOutputs(ctx context.Context, b Backend, px *Pixels) (*VisionOutput, error)
}

func (c *clipVision) visionOutputs(ctx context.Context, b Backend, px *Pixels) (*VisionOutput, error) {
	return runTower(ctx, b, c.tower, px)
}

// runTower checks px and runs every layer of tower.
func runTower(ctx context.Context, b Backend, tower *vision.CLIPVision, px *Pixels) (*VisionOutput, error) {
	if px == nil || px.Values == nil {
		return nil, errors.New("fovea: no pixel values")
	}
	if err := tower.CheckPixelValues(px.Values); err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hidden, last, pooled, err := tower.ForwardContext(ctx, b, b.Const(px.Values))
	if err != nil {
		return nil, err
	}
	out := &VisionOutput{LastHidden: backend.T(last), Pooled: backend.T(pooled)}
	for _, h := range hidden {
		out.Hidden = append(out.Hidden, backend.T(h))
	}
	return out, nil
}

// VisionOutputs runs the model's vision encoder (clip_vision_model, or
// LLaVA's or Mllama's tower) on pixel input.
func (m *Model) VisionOutputs(ctx context.Context, px *Pixels) (*VisionOutput, error) {
	ve, ok := m.impl.(visionEncoder)
	if !ok {
		return nil, fmt.Errorf("fovea: a %s model has no vision encoder", m.Kind())
	}
	return ve.visionOutputs(ctx, m.b, px)
}

func (c *clipVision) weightParts() []weightPart {
	return []weightPart{{vision.CLIPPrefix, c.tower}}
}
