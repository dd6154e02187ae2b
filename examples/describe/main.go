// Command describe runs a vision-language model folder end to end: images
// in, generated tokens out, streamed as they come.
//
//	go run ./examples/describe -model testdata/llava_tiny -image testdata/llava_tiny/image.png
//
// The prompt is -prompt (text, needs a tokenizer in the folder) or -ids
// (comma-separated token ids). With neither, the prompt is BOS followed by
// one image placeholder per image, which the library expands to the
// model's image tokens. Each generated token is printed on its own line
// as "id<TAB>text" (text is empty without a tokenizer).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

func main() {
	var (
		model       = flag.String("model", "", "model folder (config.json, *.safetensors, ...)")
		images      = flag.String("image", "", "comma-separated image files")
		prompt      = flag.String("prompt", "", "prompt text (needs a tokenizer)")
		idList      = flag.String("ids", "", "prompt as comma-separated token ids")
		maxNew      = flag.Int("max-new", 8, "tokens to generate")
		temperature = flag.Float64("temperature", 0, "sampling temperature (0 = greedy)")
		topK        = flag.Int("top-k", 0, "top-k sampling (0 = off)")
		topP        = flag.Float64("top-p", 0, "nucleus sampling threshold (0 = off)")
		seed        = flag.Uint64("seed", 0, "sampling seed")
		asks        questions
	)
	flag.Var(&asks, "ask", "a question about the images, answered as a chat turn (repeatable)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := decoder.GenerateOptions{
		MaxNewTokens: *maxNew, Temperature: float32(*temperature), TopK: *topK,
		TopP: float32(*topP), Seed: *seed,
	}
	if err := run(ctx, os.Stdout, *model, *images, *prompt, *idList, asks, opts); err != nil {
		fmt.Fprintln(os.Stderr, "describe:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, dir, imageList, prompt, idList string, asks []string, opts decoder.GenerateOptions) error {
	if dir == "" {
		return errors.New("-model is required")
	}
	m, err := fovea.Load(ctx, dir)
	if err != nil {
		return err
	}
	var imgs []image.Image
	for _, path := range splitList(imageList) {
		img, err := fovea.LoadImage(path)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	if len(asks) > 0 {
		if prompt != "" || idList != "" {
			return errors.New("-ask goes without -prompt and -ids")
		}
		return ask(ctx, out, m, imgs, asks, opts)
	}
	// -temperature 0 is greedy even when generation_config.json samples.
	req := fovea.Request{Prompt: prompt, Images: imgs, Options: opts, Greedy: opts.Temperature == 0}
	switch {
	case idList != "":
		if req.IDs, err = parseIDs(idList); err != nil {
			return err
		}
	case prompt == "":
		if req.IDs, err = defaultPrompt(m, len(imgs)); err != nil {
			return err
		}
	}
	for tok, err := range m.Generate(ctx, req) {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d\t%s\n", tok.ID, strconv.Quote(tok.Text))
	}
	return nil
}

// defaultPrompt is BOS plus one image placeholder per image.
func defaultPrompt(m *fovea.Model, nImages int) ([]int, error) {
	var bos *int
	var image int
	switch c := m.Config(); {
	case c.Llava != nil:
		bos, image = c.Llava.TextConfig.BOSTokenID, c.Llava.ImageTokenIndex
	case c.Mllama != nil:
		bos, image = c.Mllama.TextConfig.BOSTokenID, c.Mllama.ImageTokenIndex
	default:
		return nil, fmt.Errorf("a %s model has no image token: give -prompt or -ids", m.Kind())
	}
	if bos == nil {
		return nil, errors.New("the config names no bos_token_id: give -prompt or -ids")
	}
	ids := []int{*bos}
	for i := 0; i < nImages; i++ {
		ids = append(ids, image)
	}
	return ids, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range splitList(s) {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("-ids: %q is not a token id", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
