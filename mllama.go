package fovea

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"slices"

	"github.com/fovea-ml/fovea/crossattn"
	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/config"
	"github.com/fovea-ml/fovea/internal/weights"
	"github.com/fovea-ml/fovea/projector"
	"github.com/fovea-ml/fovea/vision"
)

// Mllama checkpoint names.
const (
	mllamaTextPrefix = "language_model.model."
	mllamaHeadName   = "language_model.lm_head.weight"
)

// MllamaInputs is Pixels.Mllama for an Mllama model: the side inputs of
// pixel_values [1, N, tiles, 3, S, S] as MllamaProcessor returns them.
type MllamaInputs struct {
	// AspectRatioIDs [1][N] and AspectRatioMask [1][N][tiles].
	AspectRatioIDs  [][]int
	AspectRatioMask [][][]int
	// NumTiles [1][N] are the real tiles of each image; nil means the count
	// of ones in AspectRatioMask.
	NumTiles [][]int
	// CrossAttentionMask is HF's cross_attention_mask [1, T, N, tiles]; nil
	// builds it from the prompt's image tokens as MllamaProcessor does.
	CrossAttentionMask *crossattn.TokenMask
	// Strict masks tokens before the first image completely (see
	// crossattn.Options); false reproduces HF.
	Strict bool
}

// mllama is MllamaForConditionalGeneration: tiled vision tower, one linear
// projector, and a Llama decoder with gated cross-attention layers.
type mllama struct {
	cfg   config.Mllama
	tower *vision.MllamaVision
	proj  *projector.Mllama
	dec   *decoder.Model
	pre   *vision.MllamaPreprocessorConfig // nil when the folder has none
}

func loadMllama(_ context.Context, lc *loadContext) (architecture, error) {
	cfg := lc.cfg.Mllama
	m := &mllama{cfg: *cfg, proj: projector.NewMllama(cfg)}
	var err error
	if m.tower, err = vision.NewMllamaVision(&cfg.VisionConfig); err != nil {
		return nil, err
	}
	layers, err := crossattn.NewLayers(&cfg.TextConfig)
	if err != nil {
		return nil, err
	}
	text := cfg.TextConfig.AsLlama()
	if m.dec, err = decoder.NewWithLayers(&text, layers, decoder.WithEmbedRows(cfg.TextConfig.NumEmbeddings())); err != nil {
		return nil, err
	}
	bd := weights.NewBinder(lc.src, weights.ReportAll())
	_ = bd.Bind(vision.MllamaVisionPrefix, m.tower) // problems recorded for Finish
	_ = bd.Bind(projector.Prefix, m.proj)
	bindErr := m.dec.BindTo(bd, mllamaTextPrefix, mllamaHeadName)
	if err := errors.Join(bd.Finish(), bindErr); err != nil {
		return nil, err
	}
	if m.pre, err = loadMllamaPreprocessor(lc.dir, &cfg.VisionConfig); err != nil {
		return nil, err
	}
	return m, nil
}

// loadMllamaPreprocessor reads preprocessor_config.json (a folder without
// one loads; preprocessing images then fails) and checks that its tile
// arrangements are the tower's supported_aspect_ratios, in order, since
// aspect ratio ids index that list.
func loadMllamaPreprocessor(dir string, vc *config.MllamaVision) (*vision.MllamaPreprocessorConfig, error) {
	pc, err := vision.LoadPreprocessorConfig(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pre, ok := pc.(*vision.MllamaPreprocessorConfig)
	if !ok {
		return nil, fmt.Errorf("preprocessor_config.json is a %s, this model needs an MllamaImageProcessor", pc.ProcessorType())
	}
	if err := pre.CheckTower(vc); err != nil {
		return nil, err
	}
	var got [][]int
	for _, a := range vision.SupportedAspectRatios(pre.MaxImageTiles) {
		got = append(got, []int{a.Rows, a.Cols})
	}
	if !slices.EqualFunc(got, vc.SupportedAspectRatios, slices.Equal[[]int]) {
		return nil, fmt.Errorf("preprocessor max_image_tiles %d gives aspect ratios %v, but vision_config.supported_aspect_ratios is %v",
			pre.MaxImageTiles, got, vc.SupportedAspectRatios)
	}
	return pre, nil
}

func (m *mllama) kind() Kind                  { return KindMllama }
func (m *mllama) textDecoder() *decoder.Model { return m.dec }

// preprocess runs MllamaImageProcessor on the images of one prompt.
func (m *mllama) preprocess(imgs []image.Image) (*Pixels, error) {
	if m.pre == nil {
		return nil, errors.New("fovea: the model folder has no preprocessor_config.json: pass preprocessed pixel values")
	}
	out, err := m.pre.Preprocess([][]image.Image{imgs})
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return &Pixels{Values: out.PixelValues, Mllama: &MllamaInputs{
		AspectRatioIDs: out.AspectRatioIDs, AspectRatioMask: out.AspectRatioMask, NumTiles: out.NumTiles,
	}}, nil
}

// mllamaInputs unwraps px's side inputs.
func mllamaInputs(px *Pixels) (*MllamaInputs, error) {
	if px == nil || (px.Values == nil && px.Features == nil) {
		return nil, errors.New("fovea: no pixel values")
	}
	in := px.Mllama
	if in == nil {
		return nil, errors.New("fovea: Mllama pixel input needs aspect ratio ids and mask (Pixels.Mllama)")
	}
	return in, nil
}

// imageDims returns the image count N and the tiles per image of px:
// from pixel_values [1, N, tiles, 3, S, S], else (features given without
// pixels) from the aspect ratio mask [1][N][tiles].
func (m *mllama) imageDims(px *Pixels, in *MllamaInputs) (n, tiles int, err error) {
	if v := px.Values; v != nil {
		if v.Dims() != 6 || v.Shape[0] != 1 {
			return 0, 0, fmt.Errorf("fovea: Mllama pixel_values %v, want [1, N, tiles, 3, S, S]", v.Shape)
		}
		return v.Shape[1], v.Shape[2], nil
	}
	if len(in.AspectRatioMask) != 1 || len(in.AspectRatioMask[0]) == 0 || len(in.AspectRatioMask[0][0]) == 0 {
		return 0, 0, errors.New("fovea: Mllama image features need the aspect ratio mask [1][N][tiles]")
	}
	return len(in.AspectRatioMask[0]), len(in.AspectRatioMask[0][0]), nil
}

// visionInput is the vision tower's input for px (whose Mllama inputs
// are in), checked against the tower.
func (m *mllama) visionInput(px *Pixels, in *MllamaInputs) (*vision.MllamaVisionInput, error) {
	if px.Values == nil {
		return nil, errors.New("fovea: no pixel values")
	}
	vin := &vision.MllamaVisionInput{Pixels: px.Values, AspectRatioIDs: in.AspectRatioIDs, AspectRatioMask: in.AspectRatioMask}
	if err := m.tower.CheckInput(vin); err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	return vin, nil
}

// encodeImages is the vision tower plus the projector: pixel input →
// cross_attention_states [1, N·tiles·P, D]. Features computed before are
// checked and used as they are.
func (m *mllama) encodeImages(ctx context.Context, b Backend, px *Pixels) (Value, error) {
	in, err := mllamaInputs(px)
	if err != nil {
		return nil, err
	}
	if f := px.Features; f != nil {
		n, tiles, err := m.imageDims(px, in)
		if err != nil {
			return nil, err
		}
		rows, d := n*tiles*m.tower.TileTokens(), m.cfg.TextConfig.HiddenSize
		if f.Dims() != 3 || f.Shape[0] != 1 || f.Shape[1] != rows || f.Shape[2] != d || len(f.Data) != rows*d {
			return nil, fmt.Errorf("fovea: image features %v (%d values), want [1, %d, %d] as EncodeImages returns", f.Shape, len(f.Data), rows, d)
		}
		if err := checkFeatureValues(f); err != nil {
			return nil, err
		}
		return b.Const(f), nil
	}
	vin, err := m.visionInput(px, in)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := m.tower.ForwardContext(ctx, b, vin) // [1, N, tiles, P+1, Dv]
	if err != nil {
		return nil, err
	}
	return m.proj.Forward(b, out.Output), nil // [1, N·tiles·(P+1), D]
}

// tokenMask returns the cross-attention mask for ids: the given one
// (checked against the prompt and the images) or one built from the image
// tokens.
func (m *mllama) tokenMask(ids []int, px *Pixels, in *MllamaInputs) (*crossattn.TokenMask, error) {
	n, tiles, err := m.imageDims(px, in)
	if err != nil {
		return nil, err
	}
	if tm := in.CrossAttentionMask; tm != nil {
		if tm.Batch != 1 || tm.Tokens != len(ids) || tm.Images != n || tm.Tiles != tiles {
			return nil, fmt.Errorf("fovea: cross_attention_mask is [%d, %d, %d, %d], want [1, %d, %d, %d] for this prompt and pixel input",
				tm.Batch, tm.Tokens, tm.Images, tm.Tiles, len(ids), n, tiles)
		}
		return tm, nil
	}
	numTiles := in.NumTiles
	if numTiles == nil {
		if len(in.AspectRatioMask) != 1 {
			return nil, fmt.Errorf("fovea: aspect_ratio_mask has batch %d, want 1", len(in.AspectRatioMask))
		}
		numTiles = [][]int{make([]int, 0, n)}
		for _, row := range in.AspectRatioMask[0] {
			k := 0
			for _, v := range row {
				k += v
			}
			numTiles[0] = append(numTiles[0], k)
		}
	}
	tm, err := crossattn.BuildTokenMask([][]int{ids}, m.cfg.ImageTokenIndex, numTiles, tiles)
	if err != nil {
		return nil, fmt.Errorf("fovea: %w", err)
	}
	if tm.Images != n {
		return nil, fmt.Errorf("fovea: the prompt has %d image tokens but pixel_values hold %d images", tm.Images, n)
	}
	return tm, nil
}

// prefill embeds ids and, with pixel input, encodes the images once and
// puts their keys/values and masks into the cross-attention layer states.
// Without pixel input the run is text-only, as HF's model forward without
// pixel_values: image tokens are embedded like any token and the
// cross-attention layers are skipped. With pixel input every image needs
// exactly one image token.
func (m *mllama) prefill(ctx context.Context, b Backend, ids []int, px *Pixels) (*prefilled, error) {
	e, err := embedIDs(b, m.dec, ids) // [1, T, D]
	if err != nil {
		return nil, err
	}
	st := m.dec.NewState(1)
	if px != nil {
		in, err := mllamaInputs(px)
		if err != nil {
			return nil, err
		}
		if px.Values != nil {
			if px.Values.Dims() != 6 || px.Values.Shape[0] != 1 {
				return nil, fmt.Errorf("fovea: Mllama pixel_values %v, want [1, N, tiles, 3, S, S]", px.Values.Shape)
			}
			// The side inputs are checked before tokenMask reads them.
			if _, err := m.visionInput(px, in); err != nil {
				return nil, err
			}
		}
		tm, err := m.tokenMask(ids, px, in)
		if err != nil {
			return nil, err
		}
		states, err := m.encodeImages(ctx, b, px) // [1, Nv, D]
		if err != nil {
			return nil, err
		}
		if err := crossattn.SetImages(b, m.dec, st, states, tm, crossattn.Options{Strict: in.Strict}); err != nil {
			return nil, fmt.Errorf("fovea: %w", err)
		}
	}
	return &prefilled{ids: ids, embeds: e, state: st}, nil
}

func (m *mllama) weightParts() []weightPart {
	return append(decoderParts(m.dec, mllamaTextPrefix, mllamaHeadName),
		weightPart{vision.MllamaVisionPrefix, m.tower}, weightPart{projector.Prefix, m.proj})
}

// visionOutputs runs the tiled tower alone: LastHidden is its output
// [1, N, tiles, P+1, Dv·(1+L)] (the global encoder's output and the
// selected intermediate local states, as MllamaVisionModel returns it),
// Hidden the local encoder's hidden states followed by the global
// encoder's, and Pooled is nil (the tower has no pooler).
func (m *mllama) visionOutputs(ctx context.Context, b Backend, px *Pixels) (*VisionOutput, error) {
	in, err := mllamaInputs(px)
	if err != nil {
		return nil, err
	}
	vin, err := m.visionInput(px, in)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := m.tower.Forward(b, vin)
	vo := &VisionOutput{LastHidden: backend.T(out.Output)}
	for _, h := range append(append([]Value(nil), out.Local...), out.Global...) {
		vo.Hidden = append(vo.Hidden, backend.T(h))
	}
	return vo, nil
}
