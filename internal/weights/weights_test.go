package weights

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
	"github.com/stretchr/testify/require"
)

type attention struct {
	Q    *tensor.Tensor `weight:"q_proj.weight"`
	QB   *tensor.Tensor `weight:"q_proj.bias,optional"`
	Norm *tensor.Tensor `weight:"q_norm.weight"`
}

type layer struct {
	Attn  attention `weight:"self_attn"`
	MLP   *mlp      `weight:"mlp"`
	Extra *tensor.Tensor
}

type mlp struct {
	Up *tensor.Tensor `weight:"up.weight"`
}

type model struct {
	Layers []layer          `weight:"layers"`
	Embed  *tensor.Tensor   `weight:"embed_tokens.weight"`
	Head   *tensor.Tensor   `weight:"lm_head.weight,tied=embed_tokens.weight"`
	Scales []*tensor.Tensor `weight:"scales"`
}

const (
	testD      = 4
	testV      = 6
	testLayers = 2
)

func newModel() *model {
	m := &model{
		Embed:  &tensor.Tensor{Shape: []int{testV, testD}}, // Data nil: binder allocates
		Head:   tensor.New(testV, testD),
		Scales: []*tensor.Tensor{tensor.New(1), tensor.New(1)},
	}
	for i := 0; i < testLayers; i++ {
		m.Layers = append(m.Layers, layer{
			Attn: attention{Q: tensor.New(testD, testD), QB: tensor.New(testD), Norm: tensor.New(testD)},
			MLP:  &mlp{Up: tensor.New(2*testD, testD)},
		})
	}
	return m
}

// filled returns a tensor whose values encode a seed, so a swapped or
// misrouted tensor shows.
func filled(seed float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = seed + float32(i)/1000
	}
	return t
}

// checkpoint returns a full checkpoint for model under prefix.
func checkpoint(prefix string, withBias, withHead bool) map[string]*tensor.Tensor {
	ck := map[string]*tensor.Tensor{
		prefix + "embed_tokens.weight": filled(100, testV, testD),
		prefix + "scales.0":            filled(300, 1),
		prefix + "scales.1":            filled(301, 1),
	}
	if withHead {
		ck[prefix+"lm_head.weight"] = filled(200, testV, testD)
	}
	for i := 0; i < testLayers; i++ {
		p := fmt.Sprintf("%slayers.%d.", prefix, i)
		ck[p+"self_attn.q_proj.weight"] = filled(float32(10*i+1), testD, testD)
		ck[p+"self_attn.q_norm.weight"] = filled(float32(10*i+2), testD)
		ck[p+"mlp.up.weight"] = filled(float32(10*i+3), 2*testD, testD)
		if withBias {
			ck[p+"self_attn.q_proj.bias"] = filled(float32(10*i+4), testD)
		}
	}
	return ck
}

func openCk(t *testing.T, ck map[string]*tensor.Tensor) *safetensors.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ck.safetensors")
	require.NoError(t, safetensors.Write(p, ck, nil))
	f, err := safetensors.Open(p)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func TestBindFullCheckpoint(t *testing.T) {
	ck := checkpoint("model.", true, true)
	src := openCk(t, ck)
	m := newModel()
	q0 := m.Layers[0].Attn.Q
	require.NoError(t, Bind(src, "model.", m))
	require.Same(t, q0, m.Layers[0].Attn.Q, "caller's pointer stays valid")
	require.Equal(t, ck["model.layers.0.self_attn.q_proj.weight"].Data, q0.Data)
	require.Equal(t, ck["model.layers.1.mlp.up.weight"].Data, m.Layers[1].MLP.Up.Data)
	require.Equal(t, ck["model.layers.1.self_attn.q_proj.bias"].Data, m.Layers[1].Attn.QB.Data)
	require.Equal(t, ck["model.embed_tokens.weight"].Data, m.Embed.Data, "nil Data gets filled")
	require.Equal(t, ck["model.lm_head.weight"].Data, m.Head.Data, "own tensor wins over tie")
	require.NotSame(t, m.Embed, m.Head)
	require.Equal(t, ck["model.scales.1"].Data, m.Scales[1].Data)
	require.Nil(t, m.Layers[0].Extra)
}

func TestBindOptionalAndTied(t *testing.T) {
	src := openCk(t, checkpoint("", false, false))
	m := newModel()
	require.NoError(t, Bind(src, "", m))
	require.Nil(t, m.Layers[0].Attn.QB, "absent optional tensor -> nil")
	require.Nil(t, m.Layers[1].Attn.QB)
	require.Same(t, m.Embed, m.Head, "tied head shares the embedding tensor")
	require.Equal(t, float32(100), m.Head.Data[0])
}

func TestBindReportsEverythingAtOnce(t *testing.T) {
	ck := checkpoint("model.", true, true)
	delete(ck, "model.layers.1.mlp.up.weight")
	delete(ck, "model.scales.0")
	ck["model.layers.0.self_attn.q_norm.weight"] = filled(1, testD+1)
	ck["model.embed_tokens.weight"] = filled(1, testV, testD+2)
	ck["model.layers.0.self_attn.k_proj.weight"] = filled(1, 2)
	ck["model.rotary.inv_freq"] = filled(1, 2)
	ck["vision.unrelated"] = filled(1, 2) // outside the prefix: not reported
	src := openCk(t, ck)
	err := Bind(src, "model.", newModel())
	var be *BindError
	require.True(t, errors.As(err, &be), "got %v", err)
	require.Equal(t, []string{"model.layers.1.mlp.up.weight", "model.scales.0"}, be.Missing)
	require.Equal(t, []string{"model.layers.0.self_attn.k_proj.weight", "model.rotary.inv_freq"}, be.Unexpected)
	require.Equal(t, []string{
		"model.embed_tokens.weight: want [6 4], got [6 6]",
		"model.layers.0.self_attn.q_norm.weight: want [4], got [5]",
	}, be.Mismatched)
	require.Empty(t, be.Other)
	for _, s := range append(append(be.Missing, be.Unexpected...), be.Mismatched...) {
		require.Contains(t, err.Error(), s)
	}

	// Ignore silences the known-unused tensors, nothing else.
	err = Bind(src, "model.", newModel(), Ignore("model.rotary.", "model.layers.0.self_attn.k_proj"))
	require.True(t, errors.As(err, &be))
	require.Empty(t, be.Unexpected)
	require.Len(t, be.Missing, 2)
	err = Bind(src, "model.", newModel(), AllowUnexpected())
	require.True(t, errors.As(err, &be))
	require.Empty(t, be.Unexpected)
}

func TestModelDefinitionErrors(t *testing.T) {
	src := openCk(t, checkpoint("", true, true))
	m := newModel()
	m.Layers[1].Attn.Norm = nil
	err := Bind(src, "", m)
	require.ErrorContains(t, err, "field model.Layers[1].Attn.Norm (tensor layers.1.self_attn.q_norm.weight) is nil")

	m = newModel()
	m.Layers[0].MLP = nil
	err = Bind(src, "", m)
	require.ErrorContains(t, err, "field model.Layers[0].MLP is a nil *weights.mlp")

	m = newModel()
	m.Layers[0].Attn.Q.Data = make([]float32, 3)
	require.ErrorContains(t, Bind(src, "", m), "has shape [4 4] but 3 values allocated")

	require.ErrorContains(t, Bind(src, "", *newModel()), "non-nil pointer to a struct")
	var dup struct {
		A *tensor.Tensor `weight:"x"`
		B *tensor.Tensor `weight:"x"`
	}
	require.ErrorContains(t, Bind(src, "", &dup), "both claim tensor \"x\"")
	var badTag struct {
		A *tensor.Tensor `weight:"x,optinal"`
	}
	require.ErrorContains(t, Bind(src, "", &badTag), `unknown tag option "optinal"`)
	var badType struct {
		A []float32 `weight:"x"`
	}
	require.ErrorContains(t, Bind(src, "", &badType), "tagged fields must be")
}

func TestIntegerTensorIsALoadError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "i.safetensors")
	require.NoError(t, safetensors.WriteEntries(p, []safetensors.Entry{safetensors.Int64Entry("x", []int64{1, 2})}, nil))
	f, err := safetensors.Open(p)
	require.NoError(t, err)
	defer f.Close()
	var m struct {
		X *tensor.Tensor `weight:"x"`
	}
	m.X = tensor.New(2)
	var be *BindError
	require.True(t, errors.As(Bind(f, "", &m), &be))
	require.Len(t, be.Other, 1)
	require.Contains(t, be.Other[0], "not a float type")
}

func TestRename(t *testing.T) {
	// An old naming scheme: "attention.wq" instead of "self_attn.q_proj".
	ck := checkpoint("", true, true)
	old := map[string]*tensor.Tensor{}
	for n, v := range ck {
		old[strings.ReplaceAll(n, "self_attn.q_proj", "attention.wq")] = v
	}
	src := openCk(t, old)
	fix := Rename(func(n string) string { return strings.ReplaceAll(n, "attention.wq", "self_attn.q_proj") })
	m := newModel()
	require.Error(t, Bind(src, "", m))
	m = newModel()
	require.NoError(t, Bind(src, "", m, fix))
	require.Equal(t, ck["layers.1.self_attn.q_proj.weight"].Data, m.Layers[1].Attn.Q.Data)

	collide := Rename(func(string) string { return "same" })
	require.ErrorContains(t, Bind(src, "", newModel(), collide), "both rename to \"same\"")
}

// mapSource is a Source without the Float32Into fast path.
type mapSource map[string]*tensor.Tensor

func (m mapSource) Names() []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (m mapSource) Info(n string) (safetensors.TensorInfo, bool) {
	t, ok := m[n]
	if !ok {
		return safetensors.TensorInfo{}, false
	}
	return safetensors.TensorInfo{DType: safetensors.F32, Shape: t.Shape}, true
}

func (m mapSource) Float32(n string) (*tensor.Tensor, error) { return m[n].Clone(), nil }

func TestBinderSeveralSubModels(t *testing.T) {
	ck := checkpoint("language_model.", false, true)
	for n, v := range checkpoint("vision_tower.", true, true) {
		ck[n] = v
	}
	ck["multi_modal_projector.w"] = filled(9, 2)
	ck["language_model.stray"] = filled(9, 2)
	src := mapSource(ck)
	lm, vt := newModel(), newModel()
	b := NewBinder(src)
	require.NoError(t, b.Bind("language_model.", lm))
	require.NoError(t, b.Bind("vision_tower.", vt))
	err := b.Finish()
	var be *BindError
	require.True(t, errors.As(err, &be), "got %v", err)
	require.Equal(t, []string{"language_model.stray"}, be.Unexpected)
	require.Empty(t, be.Missing)
	require.Equal(t, []string{"language_model.stray", "multi_modal_projector.w"}, b.Unclaimed())
	require.Nil(t, lm.Layers[0].Attn.QB)
	require.Equal(t, ck["vision_tower.layers.0.self_attn.q_proj.bias"].Data, vt.Layers[0].Attn.QB.Data)
}

func TestWalkAndSaveRoundTrip(t *testing.T) {
	src := openCk(t, checkpoint("", true, false))
	m := newModel()
	require.NoError(t, Bind(src, "", m))
	var names []string
	require.NoError(t, Walk(m, func(name string, tp **tensor.Tensor, optional bool) error {
		names = append(names, name)
		require.NotNil(t, tp)
		require.Equal(t, name == "layers.0.self_attn.q_proj.bias" || name == "layers.1.self_attn.q_proj.bias", optional, name)
		return nil
	}))
	require.Equal(t, []string{
		"layers.0.self_attn.q_proj.weight", "layers.0.self_attn.q_proj.bias", "layers.0.self_attn.q_norm.weight", "layers.0.mlp.up.weight",
		"layers.1.self_attn.q_proj.weight", "layers.1.self_attn.q_proj.bias", "layers.1.self_attn.q_norm.weight", "layers.1.mlp.up.weight",
		"embed_tokens.weight", "lm_head.weight", "scales.0", "scales.1",
	}, names)
	stop := errors.New("stop")
	require.ErrorIs(t, Walk(m, func(string, **tensor.Tensor, bool) error { return stop }), stop)

	p := filepath.Join(t.TempDir(), "saved.safetensors")
	require.NoError(t, Save(p, "model.", m))
	f, err := safetensors.Open(p)
	require.NoError(t, err)
	defer f.Close()
	_, hasHead := f.Info("model.lm_head.weight")
	require.False(t, hasHead, "a tied, shared head is not saved twice")
	require.Equal(t, "pt", f.Metadata()["format"])
	back := newModel()
	require.NoError(t, Bind(f, "model.", back))
	require.Same(t, back.Embed, back.Head)
	require.NoError(t, Walk(m, func(name string, tp **tensor.Tensor, _ bool) error {
		var got *tensor.Tensor
		require.NoError(t, Walk(back, func(n2 string, t2 **tensor.Tensor, _ bool) error {
			if n2 == name {
				got = *t2
			}
			return nil
		}))
		require.Equal(t, (*tp).Shape, got.Shape, name)
		require.Equal(t, (*tp).Data, got.Data, name)
		return nil
	}))
}
