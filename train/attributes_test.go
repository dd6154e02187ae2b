package train

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
)

// attrModel is a fresh LLaVA model whose 48 px tower has a 3 × 3 patch
// grid (patch 16).
func attrModel(t *testing.T, seed uint64) *fovea.Model {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{
		"model_type": "llava", "image_token_index": 30, "image_seq_length": 9, "projector_hidden_act": "gelu",
		"vision_feature_layer": -1, "vision_feature_select_strategy": "default",
		"text_config": map[string]any{"model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
			"num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 32,
			"max_position_embeddings": 64, "rms_norm_eps": 1e-5, "hidden_act": "silu"},
		"vision_config": map[string]any{"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
			"num_hidden_layers": 1, "num_attention_heads": 2, "num_channels": 3, "image_size": 48, "patch_size": 16,
			"hidden_act": "gelu", "layer_norm_eps": 1e-5, "projection_dim": 32},
	}
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644))
	pp := `{"image_processor_type": "CLIPImageProcessor", "do_resize": true, "size": {"shortest_edge": 48},
		"resample": 3, "do_center_crop": true, "crop_size": {"height": 48, "width": 48}, "do_rescale": true,
		"rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": [0.5, 0.5, 0.5],
		"image_std": [0.5, 0.5, 0.5], "do_convert_rgb": true}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(pp), 0o644))
	m, err := fovea.NewFromConfig(context.Background(), dir, seed)
	require.NoError(t, err)
	return m
}

// attrMllamaModel is a fresh Mllama model whose vision encoder reads one
// 48 px tile with patch 16 (9 patches + CLS).
func attrMllamaModel(t *testing.T, seed uint64) *fovea.Model {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{
		"model_type": "mllama", "image_token_index": 30,
		"text_config": map[string]any{"model_type": "mllama_text_model", "hidden_size": 16, "intermediate_size": 32,
			"num_hidden_layers": 2, "cross_attention_layers": []int{1}, "num_attention_heads": 2, "num_key_value_heads": 1,
			"vocab_size": 32, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "hidden_act": "silu", "rope_theta": 10000.0,
			"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3},
		"vision_config": map[string]any{"model_type": "mllama_vision_model", "hidden_size": 32, "intermediate_size": 64,
			"num_hidden_layers": 1, "num_global_layers": 1, "attention_heads": 2, "num_channels": 3, "image_size": 48,
			"patch_size": 16, "hidden_act": "gelu", "norm_eps": 1e-5, "max_num_tiles": 1, "supported_aspect_ratios": [][]int{{1, 1}},
			"intermediate_layers_indices": []int{0}, "vision_output_dim": 64},
	}
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644))
	pp := `{"image_processor_type": "MllamaImageProcessor", "do_resize": true, "size": {"height": 48, "width": 48},
		"resample": 3, "max_image_tiles": 1, "do_pad": true, "do_rescale": true, "rescale_factor": 0.00392156862745098,
		"do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": true}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(pp), 0o644))
	m, err := fovea.NewFromConfig(context.Background(), dir, seed)
	require.NoError(t, err)
	return m
}

// The Mllama encoder learns the same task through its one-tile input; the
// decoder and the cross-attention layers do not move.
func TestPretrainVisionMllama(t *testing.T) {
	ctx := context.Background()
	m := attrMllamaModel(t, 7)
	before := snapshot(m, textPrefix)
	head, sum, err := PretrainVision(ctx, m, stripes(1, 256), AttributeConfig{Task: stripeTask, Steps: 300, Batch: 16, LR: 3e-3, Seed: 3})
	require.NoError(t, err)
	require.Less(t, sum.FinalLoss, sum.FirstLoss/3, "loss %.3f → %.3f", sum.FirstLoss, sum.FinalLoss)
	acc, err := head.Accuracy(ctx, m, stripes(2, 128))
	require.NoError(t, err)
	require.GreaterOrEqual(t, acc.PerAttribute[0], 0.97, "%+v", acc)
	require.GreaterOrEqual(t, acc.PerAttribute[1], 0.97, "%+v", acc)
	require.Equal(t, before, snapshot(m, textPrefix))
}

// stripes draws n images of three 16 px columns, each empty (black), red
// or blue, labelled per column: present (2 classes), colour (2 classes;
// IgnoreIndex when empty).
func stripes(seed uint64, n int) []AttributeExample {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]AttributeExample, n)
	for i := range out {
		img := image.NewRGBA(image.Rect(0, 0, 48, 48))
		var labels []int
		for c := 0; c < 3; c++ {
			v := rng.IntN(3) // 0 empty, 1 red, 2 blue
			col := color.RGBA{A: 255}
			switch v {
			case 1:
				col.R = 220
			case 2:
				col.B = 220
			}
			// a square of random size and place inside the column
			s := 8 + rng.IntN(5)
			x0, y0 := c*16+rng.IntN(16-s), rng.IntN(48-s)
			for y := y0; y < y0+s; y++ {
				for x := x0; x < x0+s; x++ {
					img.SetRGBA(x, y, col)
				}
			}
			if v == 0 {
				labels = append(labels, 0, IgnoreIndex)
			} else {
				labels = append(labels, 1, v-1)
			}
		}
		out[i] = AttributeExample{Image: img, Labels: labels}
	}
	return out
}

// snapshot copies every weight whose name starts with prefix.
func snapshot(m *fovea.Model, prefix string) map[string][]float32 {
	out := map[string][]float32{}
	for _, w := range m.Parts().Weights {
		if strings.HasPrefix(w.Name, prefix) {
			out[w.Name] = append([]float32(nil), w.Tensor.Data...)
		}
	}
	return out
}

var stripeTask = AttributeTask{Classes: []int{2, 2}, TokenGroup: []int{0, 1, 2, 0, 1, 2, 0, 1, 2}, TokenLoss: true, GroupLoss: true}

// The tower learns each column's attributes: held-out accuracy is near
// perfect after a short run, starting near chance; the run is
// deterministic for a seed; the decoder is untouched.
func TestPretrainVisionLearns(t *testing.T) {
	ctx := context.Background()
	trainEx, held := stripes(1, 256), stripes(2, 128)
	m := attrModel(t, 7)
	before := snapshot(m, textPrefix)
	towerBefore := append([]float32(nil), m.Parts().CLIP.Layers[0].MLP.FC1.Weight.Data...)
	cfg := AttributeConfig{Task: stripeTask, Steps: 300, Batch: 16, LR: 3e-3, Seed: 3}
	h0 := newAttributeHead(stripeTask, 32, 3)
	acc0, err := h0.Accuracy(ctx, m, held)
	require.NoError(t, err)
	require.Less(t, acc0.Image, 0.3, "an untrained head is near chance")

	head, sum, err := PretrainVision(ctx, m, trainEx, cfg)
	require.NoError(t, err)
	require.Equal(t, 300, sum.Steps)
	require.Less(t, sum.FinalLoss, sum.FirstLoss/3, "loss %.3f → %.3f", sum.FirstLoss, sum.FinalLoss)
	acc, err := head.Accuracy(ctx, m, held)
	require.NoError(t, err)
	require.GreaterOrEqual(t, acc.PerAttribute[0], 0.97, "%+v", acc)
	require.GreaterOrEqual(t, acc.PerAttribute[1], 0.97, "%+v", acc)
	require.Equal(t, before, snapshot(m, textPrefix), "the decoder does not train")
	require.NotEqual(t, towerBefore, m.Parts().CLIP.Layers[0].MLP.FC1.Weight.Data, "the tower trains")

	m2 := attrModel(t, 7)
	_, sum2, err := PretrainVision(ctx, m2, trainEx, cfg)
	require.NoError(t, err)
	require.Equal(t, sum.FinalLoss, sum2.FinalLoss, "one seed, one run")
	require.Equal(t, m.Parts().CLIP.Layers[0].MLP.FC1.Weight.Data, m2.Parts().CLIP.Layers[0].MLP.FC1.Weight.Data)
}

func TestPretrainVisionErrors(t *testing.T) {
	ctx := context.Background()
	m := attrModel(t, 1)
	ex := stripes(1, 8)
	ok := AttributeConfig{Task: stripeTask, Steps: 1, Batch: 4}
	for name, c := range map[string]struct {
		cfg  AttributeConfig
		data []AttributeExample
		want string
	}{
		"no attributes":  {AttributeConfig{Task: AttributeTask{TokenGroup: stripeTask.TokenGroup}, Steps: 1, Batch: 4}, ex, "no attributes"},
		"one class":      {AttributeConfig{Task: AttributeTask{Classes: []int{1}, TokenGroup: stripeTask.TokenGroup}, Steps: 1, Batch: 4}, ex, "at least 2"},
		"gap in groups":  {AttributeConfig{Task: AttributeTask{Classes: []int{2, 2}, TokenGroup: []int{0, 2, 2, 0, 2, 2, 0, 2, 2}}, Steps: 1, Batch: 4}, ex, "group 1 has no token"},
		"wrong tokens":   {AttributeConfig{Task: AttributeTask{Classes: []int{2, 2}, TokenGroup: []int{0, 1, 2}}, Steps: 1, Batch: 4}, ex, "9 patch tokens"},
		"no steps":       {AttributeConfig{Task: stripeTask, Steps: 0, Batch: 4}, ex, "steps 0"},
		"too few images": {ok, ex[:2], "fewer than a batch"},
		"labels count":   {ok, append([]AttributeExample{{Image: ex[0].Image, Labels: []int{1}}}, ex[1:]...), "has 1 labels, want 6"},
		"label range":    {ok, append([]AttributeExample{{Image: ex[0].Image, Labels: []int{1, 5, 0, 0, 0, 0}}}, ex[1:]...), "label 1 is 5"},
		"nil image":      {ok, append([]AttributeExample{{Labels: ex[0].Labels}}, ex[1:]...), "image 0 is nil"},
		"negative lr":    {AttributeConfig{Task: stripeTask, Steps: 1, Batch: 4, LR: -1}, ex, "lr -1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := PretrainVision(ctx, m, c.data, c.cfg)
			require.ErrorContains(t, err, c.want)
		})
	}
}
