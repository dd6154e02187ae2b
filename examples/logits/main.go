// Command logits runs a model folder on one input and writes what it
// computed to a safetensors file, for comparison with HuggingFace.
//
//	go run ./examples/logits -model DIR [-inputs FILE.safetensors] [-images a.png,b.png] [-generate N] -out OUT.safetensors
//
// It reads input_ids (I64 [1, T]) and, when no -images are given,
// pixel_values (F32) from -inputs; with -images it preprocesses the files
// per DIR/preprocessor_config.json. It writes:
//   - llama, llava: logits (F32 [1, T, V]), the pixel_values it used, and
//     with -generate N the greedy generated_ids (I64 [≤N]; generation stops
//     early at an end-of-sequence token, as HF's generate does);
//   - clip_vision_model: last_hidden_state, pooler_output and pixel_values.
//   - mllama: as llava; without -images, -inputs also supplies
//     aspect_ratio_ids, aspect_ratio_mask and optionally cross_attention_mask
//     (see mllama.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"strings"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/decoder"
)

// Tensor names of the input and output files (HF's argument names).
const (
	nameInputIDs     = "input_ids"
	namePixelValues  = "pixel_values"
	nameLogits       = "logits"
	nameGenerated    = "generated_ids"
	nameLastHidden   = "last_hidden_state"
	namePoolerOutput = "pooler_output"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "logits:", err)
		os.Exit(1)
	}
}

// args are the parsed command-line flags.
type args struct {
	model, inputs, images, out string
	generate                   int
}

func parseArgs(argv []string, stderr io.Writer) (*args, error) {
	fs := flag.NewFlagSet("logits", flag.ContinueOnError)
	fs.SetOutput(stderr)
	a := &args{}
	fs.StringVar(&a.model, "model", "", "model folder (config.json, *.safetensors, ...)")
	fs.StringVar(&a.inputs, "inputs", "", "safetensors file with input_ids and optionally pixel_values")
	fs.StringVar(&a.images, "images", "", "comma-separated image files to preprocess (instead of pixel_values)")
	fs.IntVar(&a.generate, "generate", 0, "also generate this many tokens greedily")
	fs.StringVar(&a.out, "out", "", "output safetensors file")
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	if a.model == "" || a.out == "" {
		return nil, errors.New("-model and -out are required")
	}
	if a.generate < 0 {
		return nil, fmt.Errorf("-generate %d must not be negative", a.generate)
	}
	return a, nil
}

// inputs is what the command feeds the model.
type inputs struct {
	ids    []int // nil when -inputs has no input_ids
	pixels *fovea.Pixels
	// file is the open -inputs file (nil without -inputs), for runners
	// that need more of its tensors; closed when run returns.
	file *fovea.SafetensorsFile
}

// runner computes the output tensors for one kind of model.
type runner func(ctx context.Context, m *fovea.Model, in *inputs, generate int) ([]fovea.SafetensorsEntry, error)

// runners maps a model kind to its runner; kinds not listed are language
// models and use runText.
func runners() map[fovea.Kind]runner {
	return map[fovea.Kind]runner{
		fovea.KindCLIPVision: runVision,
		fovea.KindMllama:     runMllama,
	}
}

// readInputs gathers input_ids and pixel values from -inputs and -images.
// The returned inputs (also on error) hold the open -inputs file.
func readInputs(m *fovea.Model, a *args) (*inputs, error) {
	in := &inputs{}
	if a.inputs != "" {
		f, err := fovea.OpenSafetensors(a.inputs)
		if err != nil {
			return nil, err
		}
		in.file = f
		if _, ok := f.Info(nameInputIDs); ok {
			vals, shape, err := f.Int64(nameInputIDs)
			if err != nil {
				return in, fmt.Errorf("%s: %w", nameInputIDs, err)
			}
			if (len(shape) == 2 && shape[0] != 1) || len(shape) > 2 {
				return in, fmt.Errorf("%s has shape %v; one sequence [1, T] is supported", nameInputIDs, shape)
			}
			in.ids = make([]int, len(vals))
			for i, v := range vals {
				in.ids[i] = int(v)
			}
		}
		if _, ok := f.Info(namePixelValues); ok && a.images == "" {
			pv, err := f.Float32(namePixelValues)
			if err != nil {
				return in, fmt.Errorf("%s: %w", namePixelValues, err)
			}
			in.pixels = &fovea.Pixels{Values: pv}
		}
	}
	if a.images != "" {
		var imgs []image.Image
		for _, path := range strings.Split(a.images, ",") {
			img, err := fovea.LoadImage(path)
			if err != nil {
				return in, err
			}
			imgs = append(imgs, img)
		}
		px, err := m.PreprocessImages(imgs)
		if err != nil {
			return in, err
		}
		in.pixels = px
	}
	return in, nil
}

func run(ctx context.Context, argv []string, stderr io.Writer) error {
	a, err := parseArgs(argv, stderr)
	if err != nil {
		return err
	}
	m, err := fovea.Load(ctx, a.model, fovea.WithoutTokenizer())
	if err != nil {
		return err
	}
	in, err := readInputs(m, a)
	if in != nil && in.file != nil {
		defer in.file.Close()
	}
	if err != nil {
		return err
	}
	run, ok := runners()[m.Kind()]
	if !ok {
		run = runText
	}
	entries, err := run(ctx, m, in, a.generate)
	if err != nil {
		return err
	}
	if in.pixels != nil {
		entries = append(entries, fovea.Float32Entry(namePixelValues, in.pixels.Values))
	}
	return fovea.WriteSafetensors(a.out, entries, nil)
}

// runVision encodes the images of a vision-only model.
func runVision(ctx context.Context, m *fovea.Model, in *inputs, _ int) ([]fovea.SafetensorsEntry, error) {
	if in.pixels == nil {
		return nil, fmt.Errorf("a %s model needs pixel_values in -inputs or -images", m.Kind())
	}
	vo, err := m.VisionOutputs(ctx, in.pixels)
	if err != nil {
		return nil, err
	}
	return []fovea.SafetensorsEntry{
		fovea.Float32Entry(nameLastHidden, vo.LastHidden),
		fovea.Float32Entry(namePoolerOutput, vo.Pooled),
	}, nil
}

// runText computes the logits of a language model and optionally
// generates greedily.
func runText(ctx context.Context, m *fovea.Model, in *inputs, generate int) ([]fovea.SafetensorsEntry, error) {
	if in.ids == nil {
		return nil, fmt.Errorf("a %s model needs %s in -inputs", m.Kind(), nameInputIDs)
	}
	logits, err := m.Logits(ctx, in.ids, in.pixels)
	if err != nil {
		return nil, err
	}
	entries := []fovea.SafetensorsEntry{fovea.Float32Entry(nameLogits, logits)}
	if generate == 0 {
		return entries, nil
	}
	var gen []int64
	req := fovea.Request{IDs: in.ids, Pixels: in.pixels, Options: decoder.GenerateOptions{MaxNewTokens: generate}, Greedy: true}
	for tok, err := range m.Generate(ctx, req) {
		if err != nil {
			return nil, err
		}
		gen = append(gen, int64(tok.ID))
	}
	return append(entries, fovea.Int64Entry(nameGenerated, gen)), nil
}
