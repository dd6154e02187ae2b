// Command outside uses Fovea's public API from a module of its own; the
// test in outside_test.go builds and runs it. Usage:
//
//	outside LLAVA_DIR LLAMA_DIR IMAGE1 IMAGE2
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "outside:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: outside LLAVA_DIR LLAMA_DIR IMAGE1 IMAGE2")
	}
	m, err := fovea.Load(ctx, args[0])
	if err != nil {
		return err
	}
	var imgs []image.Image
	for _, p := range args[2:] {
		img, err := fovea.LoadImage(p)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}

	// Chat: two images, then a follow-up, in one session, streamed.
	s := m.NewSession()
	opts := fovea.Request{Options: decoder.GenerateOptions{MaxNewTokens: 6, TopLogprobs: 2}}
	for i, msg := range []fovea.Message{
		{Role: fovea.RoleUser, Text: "Compare these two pictures.", Images: imgs},
		{Role: fovea.RoleUser, Text: "Which one is brighter?"},
	} {
		st := s.Send(ctx, msg, opts)
		n := 0
		for tok := range st.Tokens() {
			n++
			_ = tok.Text + fmt.Sprint(tok.Logprob, len(tok.TopLogprobs))
		}
		res, err := st.Result()
		if err != nil {
			return err
		}
		fmt.Printf("turn %d: tokens=%d finish=%s prompt=%d cached=%d prefill=%.1ftok/s decode=%.1ftok/s\n",
			i, n, res.Finish, res.PromptTokens, res.CachedTokens, res.PrefillTokensPerSecond(), res.DecodeTokensPerSecond())
	}

	// Logits and vision embeddings.
	px, err := m.PreprocessImages(imgs[:1])
	if err != nil {
		return err
	}
	text, err := m.RenderChat([]fovea.Message{{Role: fovea.RoleUser, Text: "Hi", Images: imgs[:1]}}, true)
	if err != nil {
		return err
	}
	ids := m.Tokenizer().Encode(text)
	logits, err := m.Logits(ctx, ids, px)
	if err != nil {
		return err
	}
	feats, err := m.EncodeImages(ctx, px)
	if err != nil {
		return err
	}
	again, err := m.Logits(ctx, ids, &fovea.Pixels{Features: feats})
	if err != nil {
		return err
	}
	vo, err := m.VisionOutputs(ctx, px)
	if err != nil {
		return err
	}
	fmt.Printf("logits %v features %v same=%v pooled %v\n", logits.Shape, feats.Shape, equal(logits, again), vo.Pooled.Shape)

	// Save and reload: Save writes an HF folder (legacy LLaVA names,
	// format pt) that Load reads back to the same logits.
	saved, err := os.MkdirTemp("", "fovea-outside-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(saved)
	dir := filepath.Join(saved, "llava")
	if err := m.Save(ctx, dir); err != nil {
		return err
	}
	m2, err := fovea.Load(ctx, dir)
	if err != nil {
		return err
	}
	l2, err := m2.Logits(ctx, ids, px)
	if err != nil {
		return err
	}
	fmt.Printf("reloaded %v same=%v\n", l2.Shape, equal(logits, l2))

	// Composing a model from the layer packages: a Llama decoder built,
	// loaded and run directly.
	raw, err := os.ReadFile(args[1] + "/config.json")
	if err != nil {
		return err
	}
	var cfg decoder.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	dec, err := decoder.New(&cfg)
	if err != nil {
		return err
	}
	src, err := fovea.OpenSafetensors(args[1] + "/model.safetensors")
	if err != nil {
		return err
	}
	defer src.Close()
	if err := dec.Load(src, "model."); err != nil {
		return err
	}
	b := fovea.EagerBackend()
	emb, err := dec.Embed(b, [][]int{{1, 17, 42}})
	if err != nil {
		return err
	}
	out, err := dec.Forward(b, emb, dec.NewState(1))
	if err != nil {
		return err
	}
	lt, err := fovea.TensorOf(out)
	if err != nil {
		return err
	}
	whole, err := fovea.Load(ctx, args[1], fovea.WithoutTokenizer())
	if err != nil {
		return err
	}
	ref, err := whole.Logits(ctx, []int{1, 17, 42}, nil)
	if err != nil {
		return err
	}
	fmt.Printf("composed %v same=%v\n", lt.Shape, equal(lt, ref))
	return nil
}

func equal(a, b *fovea.Tensor) bool {
	if len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if d := a.Data[i] - b.Data[i]; d > 1e-4 || d < -1e-4 {
			return false
		}
	}
	return true
}
