package crossattn

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea/decoder"
	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/tensor"
)

func goldenJSON(t testing.TB, name string) (prompt, gen, genText []int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(caseDir(name), "golden.json"))
	require.NoError(t, err)
	var j struct {
		PromptIDs            []int `json:"prompt_ids"`
		GeneratedIDs         []int `json:"generated_ids"`
		GeneratedIDsTextOnly []int `json:"generated_ids_text_only"`
	}
	require.NoError(t, json.Unmarshal(raw, &j))
	return j.PromptIDs, j.GeneratedIDs, j.GeneratedIDsTextOnly
}

// TestTokenMaskGolden checks the processor's cross_attention_mask and the
// model's 4D mask / row mask against HF.
func TestTokenMaskGolden(t *testing.T) {
	g := openGolden(t, "mllama_tiny")
	prompt, _, _ := goldenJSON(t, "mllama_tiny")
	for _, c := range []struct {
		prefix string
		tiles  int
	}{{"", 2}, {"sq.", 1}} {
		want, shape := goldenInts(t, g, c.prefix+"cross_attention_mask")
		tm, err := BuildTokenMask([][]int{prompt}, imageToken, [][]int{{c.tiles}}, 2)
		require.NoError(t, err)
		require.Equal(t, shape, []int{tm.Batch, tm.Tokens, tm.Images, tm.Tiles})
		require.Equal(t, want, tm.Data, c.prefix+"cross_attention_mask")
	}
	raw, shape, err := g.Int64("cross_attention_mask")
	require.NoError(t, err)
	tm, err := TokenMaskFromInt64(raw, shape)
	require.NoError(t, err)
	mask, rows := tm.Dense(17)
	want4d, err := g.Float32("cross_attention_mask_4d")
	require.NoError(t, err)
	wantRows, err := g.Float32("full_text_row_masked_out_mask")
	require.NoError(t, err)
	require.Equal(t, want4d.Shape, mask.Shape)
	require.Equal(t, wantRows.Shape, rows.Shape)
	require.Equal(t, want4d.Data, mask.Data) // -0 == 0
	require.Equal(t, wantRows.Data, rows.Data)
}

// TestImageSpans follows HF get_cross_attention_token_mask by hand.
func TestImageSpans(t *testing.T) {
	const I = imageToken
	// Two separated images: each sees up to the next image token.
	tm, err := BuildTokenMask([][]int{{1, I, 5, 6, I, 7}}, I, [][]int{{2, 1}}, 2)
	require.NoError(t, err)
	sees := func(tok, img int) []bool { return []bool{tm.At(0, tok, img, 0), tm.At(0, tok, img, 1)} }
	require.Equal(t, []bool{false, false}, sees(0, 0))
	for tok := 1; tok <= 3; tok++ {
		require.Equal(t, []bool{true, true}, sees(tok, 0), "token %d", tok)
		require.Equal(t, []bool{false, false}, sees(tok, 1), "token %d", tok)
	}
	for tok := 4; tok <= 5; tok++ {
		require.Equal(t, []bool{false, false}, sees(tok, 0), "token %d", tok)
		require.Equal(t, []bool{true, false}, sees(tok, 1), "token %d (1 tile)", tok)
	}
	// Consecutive image tokens: the first image extends to the end too.
	tm, err = BuildTokenMask([][]int{{1, I, I, 5, 6}}, I, [][]int{{1, 1}}, 1)
	require.NoError(t, err)
	for tok := 0; tok < 5; tok++ {
		require.Equal(t, tok >= 1, tm.At(0, tok, 0, 0), "token %d image 0", tok)
		require.Equal(t, tok >= 2, tm.At(0, tok, 1, 0), "token %d image 1", tok)
	}
	// Bad input.
	_, err = BuildTokenMask([][]int{{1, I, I}}, I, [][]int{{1}}, 2)
	require.ErrorContains(t, err, "2 image tokens (id 383) but 1 image(s)")
	_, err = BuildTokenMask([][]int{{1, 2}}, I, [][]int{{1}}, 2)
	require.ErrorContains(t, err, "no image token")
	_, err = BuildTokenMask([][]int{{1, I}}, I, [][]int{{3}}, 2)
	require.ErrorContains(t, err, "3 tiles, outside 1..2")
	_, err = TokenMaskFromInt64([]int64{0, 2}, []int{1, 1, 1, 2})
	require.ErrorContains(t, err, "not 0 or 1")
	_, err = TokenMaskFromInt64([]int64{0, 1}, []int{1, 2})
	require.ErrorContains(t, err, "want [B, T, N, tiles]")
}

// TestGoldenTextHidden feeds HF's cross_attention_states and mask to the
// decoder and compares every hidden state, the logits, and the text-only
// run.
func TestGoldenTextHidden(t *testing.T) {
	for _, name := range []string{"mllama_tiny", "mllama_tiny_gate0"} {
		t.Run(name, func(t *testing.T) {
			m := loadTiny(t, name)
			g := openGolden(t, name)
			prompt, _, _ := goldenJSON(t, name)
			var b backend.Eager
			states, err := g.Float32("cross_attention_states")
			require.NoError(t, err)
			raw, shape, err := g.Int64("cross_attention_mask")
			require.NoError(t, err)
			tm, err := TokenMaskFromInt64(raw, shape)
			require.NoError(t, err)
			worst := 0.0
			for _, withImage := range []bool{true, false} {
				st := m.dec.NewState(1)
				prefix, logitsName := "text_only_hidden_states.", "logits_text_only"
				if withImage {
					require.NoError(t, SetImages(b, m.dec, st, b.Const(states), tm, Options{}))
					prefix, logitsName = "text_hidden_states.", "logits"
				}
				x, err := m.dec.Embed(b, [][]int{prompt})
				require.NoError(t, err)
				logits, hidden, err := m.dec.ForwardHidden(b, x, st)
				require.NoError(t, err)
				for i, h := range hidden {
					want, err := g.Float32(fmt.Sprint(prefix, i))
					require.NoError(t, err)
					d := maxAbsDiff(t, want, backend.T(h))
					require.LessOrEqual(t, d, goldenTol, "%s%d", prefix, i)
					worst = max(worst, d)
				}
				want, err := g.Float32(logitsName)
				require.NoError(t, err)
				d := maxAbsDiff(t, want, backend.T(logits))
				require.LessOrEqual(t, d, goldenTol, logitsName)
				worst = max(worst, d)
			}
			t.Logf("%s: max |Δ| %.3g over text hidden states and logits", name, worst)
		})
	}
}

// passThrough stands in for a cross-attention layer in a text-only decoder.
type passThrough struct{}

func (passThrough) NewState(int) any { return nil }
func (passThrough) Forward(_ backend.Backend, x backend.Value, _ []int, _ any) backend.Value {
	return x
}

// textOnlyDecoder is the same decoder with its cross-attention layers
// removed (identity), sharing every other weight.
func textOnlyDecoder(t *testing.T, m *tinyModel) *decoder.Model {
	t.Helper()
	layers := make([]decoder.Layer, len(m.dec.Layers))
	for i, l := range m.dec.Layers {
		layers[i] = l
		if _, ok := l.(*Layer); ok {
			layers[i] = passThrough{}
		}
	}
	text := m.cfg.TextConfig.AsLlama()
	d, err := decoder.NewWithLayers(&text, layers, decoder.WithEmbedRows(m.cfg.TextConfig.NumEmbeddings()))
	require.NoError(t, err)
	d.EmbedTokens, d.Norm, d.LMHead = m.dec.EmbedTokens, m.dec.Norm, m.dec.LMHead
	return d
}

// TestBitExactWithoutImageOrGates: no image, or zero gates with an image,
// gives the text-only decoder's logits bit for bit.
func TestBitExactWithoutImageOrGates(t *testing.T) {
	prompt, _, _ := goldenJSON(t, "mllama_tiny")
	ids := [][]int{prompt}
	var b backend.Eager
	for _, name := range []string{"mllama_tiny", "mllama_tiny_gate0"} {
		m := loadTiny(t, name)
		ref := textOnlyDecoder(t, m)
		x, err := ref.Embed(b, ids)
		require.NoError(t, err)
		want, err := ref.Forward(b, x, ref.NewState(1))
		require.NoError(t, err)
		require.Equal(t, backend.T(want).Data, m.logits(t, ids, nil, nil, Options{}).Data, "%s without image", name)
		states, tiles := m.encode(t, [][]image.Image{{loadImage(t, name, "image.png")}})
		withImage := m.logits(t, ids, states, tiles, Options{})
		if name == "mllama_tiny_gate0" {
			require.Equal(t, backend.T(want).Data, withImage.Data, "zero gates with image")
		} else {
			require.NotEqual(t, backend.T(want).Data, withImage.Data, "non-zero gates must use the image")
		}
	}
}

// TestStrictDiffersOnlyBeforeImage runs one cross-attention layer in both
// modes: outputs differ exactly on the rows before the first image token
// (where strict returns the input unchanged) and are identical elsewhere.
func TestStrictDiffersOnlyBeforeImage(t *testing.T) {
	m := loadTiny(t, "mllama_tiny")
	g := openGolden(t, "mllama_tiny")
	prompt, _, _ := goldenJSON(t, "mllama_tiny")
	const first = 3 // position of the image token
	require.Equal(t, imageToken, prompt[first])
	var b backend.Eager
	states, tiles := m.encode(t, [][]image.Image{{loadImage(t, "mllama_tiny", "image.png")}})
	tm, err := BuildTokenMask([][]int{prompt}, imageToken, tiles, 2)
	require.NoError(t, err)
	x, err := g.Float32("text_hidden_states.1") // the input of cross layer 1
	require.NoError(t, err)
	run := func(strict bool) *tensor.Tensor {
		st := m.dec.NewState(1)
		require.NoError(t, SetImages(b, m.dec, st, states, tm, Options{Strict: strict}))
		pos := make([]int, len(prompt))
		for i := range pos {
			pos[i] = i
		}
		return backend.T(m.dec.Layers[1].Forward(b, b.Const(x), pos, st.Layers[1]))
	}
	hf, strict := run(false), run(true)
	d := x.Shape[2]
	for r := range prompt {
		row := func(v *tensor.Tensor) []float32 { return v.Data[r*d : (r+1)*d] }
		if r < first {
			require.NotEqual(t, row(hf), row(strict), "row %d", r)
			require.Equal(t, row(x), row(strict), "strict row %d passes through", r)
		} else {
			require.Equal(t, row(hf), row(strict), "row %d", r)
		}
	}
}

// TestGenerateWithImage: greedy decoding with the image keeps the image
// K/V in the state and repeats the mask's last row for new tokens.
func TestGenerateWithImage(t *testing.T) {
	m := loadTiny(t, "mllama_tiny")
	prompt, gen, genText := goldenJSON(t, "mllama_tiny")
	var b backend.Eager
	states, tiles := m.encode(t, [][]image.Image{{loadImage(t, "mllama_tiny", "image.png")}})
	tm, err := BuildTokenMask([][]int{prompt}, imageToken, tiles, 2)
	require.NoError(t, err)
	st := m.dec.NewState(1)
	require.NoError(t, SetImages(b, m.dec, st, states, tm, Options{}))
	kBefore := st.Layers[1].(*State).k
	x, err := m.dec.Embed(b, [][]int{prompt})
	require.NoError(t, err)
	got, err := m.dec.Greedy(context.Background(), b, st, x, len(gen))
	require.NoError(t, err)
	require.Equal(t, gen, got)
	require.Same(t, backend.T(kBefore), backend.T(st.Layers[1].(*State).k), "image K/V computed once")
	// Mask rows past the prompt repeat its last row.
	ls := st.Layers[1].(*State)
	last, _ := ls.rowsFor([]int{len(prompt) - 1})
	later, rows := ls.rowsFor([]int{len(prompt) + 5})
	require.Equal(t, last.Data, later.Data)
	require.Equal(t, []float32{1}, rows.Data)
	// Clearing the images gives the text-only generation.
	ClearImages(st)
	require.False(t, st.Layers[1].(*State).HasImages())
	st2 := m.dec.NewState(1)
	got, err = m.dec.Greedy(context.Background(), b, st2, x, len(genText))
	require.NoError(t, err)
	require.Equal(t, genText, got)
}

// TestBatchMatchesSingle: two prompts with different images and image
// positions at once give each prompt's own logits.
func TestBatchMatchesSingle(t *testing.T) {
	m := loadTiny(t, "mllama_tiny")
	prompt, _, _ := goldenJSON(t, "mllama_tiny")
	other := []int{1, imageToken, 90, 91, 92, 93, 94, 95, 96, 97} // same length, image at 1
	imgA := loadImage(t, "mllama_tiny", "image.png")
	imgB := loadImage(t, "mllama_tiny", "image_square.png")
	for _, strict := range []bool{false, true} {
		opts := Options{Strict: strict}
		states, tiles := m.encode(t, [][]image.Image{{imgA}, {imgB}})
		both := m.logits(t, [][]int{prompt, other}, states, tiles, opts) // [2, T, V]
		n := tensor.Numel(both.Shape[1:])
		for i, c := range []struct {
			ids []int
			img image.Image
		}{{prompt, imgA}, {other, imgB}} {
			s, tl := m.encode(t, [][]image.Image{{c.img}})
			one := m.logits(t, [][]int{c.ids}, s, tl, opts)
			d := maxAbsDiff(t, one, tensor.FromData(both.Data[i*n:(i+1)*n], both.Shape[1:]...))
			t.Logf("strict=%v prompt %d: batch vs single max |Δ| %.3g", strict, i, d)
			require.LessOrEqual(t, d, 1e-5)
		}
	}
}

// TestSeveralImagesPerPrompt: two images in one prompt; in strict mode the
// rows before the first image equal the text-only run, and rows of the
// second image differ from a run that shows only the first image.
func TestSeveralImagesPerPrompt(t *testing.T) {
	m := loadTiny(t, "mllama_tiny")
	ids := []int{1, 17, imageToken, 42, 43, imageToken, 44, 45}
	imgA := loadImage(t, "mllama_tiny", "image.png")
	imgB := loadImage(t, "mllama_tiny", "image_square.png")
	states, tiles := m.encode(t, [][]image.Image{{imgA, imgB}})
	require.Equal(t, [][]int{{2, 1}}, tiles)
	require.Equal(t, []int{1, 2 * 2 * 17, 64}, backend.Eager{}.Shape(states))
	two := m.logits(t, [][]int{ids}, states, tiles, Options{Strict: true})
	text := m.logits(t, [][]int{ids}, nil, nil, Options{})
	oneIDs := append([]int(nil), ids...)
	oneIDs[5] = 46 // no second image token
	s1, t1 := m.encode(t, [][]image.Image{{imgA}})
	one := m.logits(t, [][]int{oneIDs}, s1, t1, Options{Strict: true})
	v := two.Shape[2]
	row := func(x *tensor.Tensor, r int) []float32 { return x.Data[r*v : (r+1)*v] }
	for r := 0; r < 2; r++ {
		require.Equal(t, row(text, r), row(two, r), "row %d before any image", r)
	}
	// Rows 2..4 see only image A in both runs: same up to float rounding
	// (the second image's keys are masked out).
	d := maxAbsDiff(t, tensor.FromData(one.Data[2*v:5*v], 3, v), tensor.FromData(two.Data[2*v:5*v], 3, v))
	require.LessOrEqual(t, d, 1e-5)
	require.NotEqual(t, row(one, 6), row(two, 6), "row 6 sees image B")
}

func TestSetImagesErrors(t *testing.T) {
	m := loadTiny(t, "mllama_tiny")
	var b backend.Eager
	st := m.dec.NewState(1)
	tm, err := BuildTokenMask([][]int{{1, imageToken}}, imageToken, [][]int{{2}}, 2)
	require.NoError(t, err)
	require.ErrorContains(t, SetImages(b, m.dec, st, b.Const(tensor.New(1, 34, 32)), tm, Options{}), "want [B, Nv, 64]")
	require.ErrorContains(t, SetImages(b, m.dec, st, b.Const(tensor.New(2, 34, 64)), tm, Options{}), "batch mismatch")
	require.ErrorContains(t, SetImages(b, m.dec, st, b.Const(tensor.New(1, 35, 64)), tm, Options{}), "do not split")
	require.ErrorContains(t, SetImages(b, nil, st, nil, tm, Options{}), "needs a model")
}
