// Command compare measures the claims of the two fusion styles on two
// trained models — a unified-embedding (LLaVA) folder and a
// cross-attention (Mllama) folder, by default the shapes models that
// examples/shapes trained — and prints one Markdown table:
//
//	go run ./examples/compare
//	go run ./examples/compare -llava DIR -mllama DIR -llava-text DIR -mllama-text DIR -heldout FILE.jsonl
//
// The rows, in order (README.md of this folder describes each):
//
//   - parameters: the whole model, its language model, what the style adds
//     to the text-pretrained LLM, and what each training stage trains
//     (unified stage 1, unified stage 2, the cross stage), counted by the
//     train package from real runs;
//   - context length and prefill time for 1, 2, 4 and 8 images with one
//     question (-images), best of -reps, both models timed in turn;
//   - training time per sample of each stage: -steps timed optimizer
//     steps of -batch rows after one warm-up step, best step;
//   - held-out exact-match accuracy per question kind (-heldout, a LLaVA
//     JSONL file with expected answers);
//   - text-only behaviour: the trained model's text-only logits against
//     its text-pretrained LLM's (-llava-text, -mllama-text: Llama
//     folders; examples/shapes writes them to OUT/text-llm) over the
//     held-out questions and answers without images, and the text-only
//     held-out loss of both.
//
// A missing text-LLM folder leaves its rows at "—" with a note under the
// table; a limit that stops a measurement (context length, image count)
// is a note too, not a failure. Everything goes through public packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
)

type flags struct {
	llava, mllama         string
	llavaText, mllamaText string
	heldout               string
	heldoutRows           int
	image, question       string
	images                []int
	reps                  int
	batch, steps          int
	maxNew                int
}

// imageCounts is the -images flag: comma-separated image counts.
type imageCounts []int

func (c *imageCounts) String() string {
	s := make([]string, len(*c))
	for i, n := range *c {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (c *imageCounts) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxImages {
			return fmt.Errorf("%q: want image counts from 1 to %d, comma-separated", v, maxImages)
		}
		out = append(out, n)
	}
	*c = out
	return nil
}

// maxImages bounds -images: more images than this is no longer a
// comparison of fusion styles but of memory.
const maxImages = 64

// Defaults: the shipped shapes models.
const (
	defaultLlava       = "testdata/shapes-llava"
	defaultMllama      = "testdata/shapes-mllama"
	defaultLlavaText   = "testdata/shapes-llava-text"
	defaultMllamaText  = "testdata/shapes-mllama-text"
	defaultHeldout     = "testdata/shapes-heldout/heldout.jsonl"
	defaultImage       = "testdata/shapes-llava/sample-0.png"
	defaultQuestion    = "How many shapes are there?"
	defaultReps        = 20
	defaultBatch       = 8
	defaultSteps       = 20
	defaultMaxNewToken = 48 // the longest shapes caption is about 30 tokens
)

func main() {
	f := flags{images: []int{1, 2, 4, 8}}
	flag.StringVar(&f.llava, "llava", defaultLlava, "unified-embedding (LLaVA) model folder")
	flag.StringVar(&f.mllama, "mllama", defaultMllama, "cross-attention (Mllama) model folder")
	flag.StringVar(&f.llavaText, "llava-text", defaultLlavaText, "the LLaVA model's text-pretrained LLM (Llama folder; missing: its rows are skipped)")
	flag.StringVar(&f.mllamaText, "mllama-text", defaultMllamaText, "the Mllama model's text-pretrained LLM (Llama folder; missing: its rows are skipped)")
	flag.StringVar(&f.heldout, "heldout", defaultHeldout, "held-out LLaVA JSONL with expected answers (go run ./examples/shapes -data-only writes DIR/data/heldout.jsonl)")
	flag.IntVar(&f.heldoutRows, "heldout-rows", 0, "use the first N held-out rows (0: all)")
	flag.StringVar(&f.image, "image", defaultImage, "image of the context and prefill rows")
	flag.StringVar(&f.question, "question", defaultQuestion, "question of the context and prefill rows")
	flag.Var((*imageCounts)(&f.images), "images", "image counts of the context and prefill rows")
	flag.IntVar(&f.reps, "reps", defaultReps, "prefill repetitions (the best is reported)")
	flag.IntVar(&f.batch, "batch", defaultBatch, "rows per training step")
	flag.IntVar(&f.steps, "steps", defaultSteps, "timed training steps per stage (after one warm-up step)")
	flag.IntVar(&f.maxNew, "max-new", defaultMaxNewToken, "most tokens per held-out answer")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "compare: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, f); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func (f *flags) validate() error {
	switch {
	case f.llava == "" || f.mllama == "":
		return errors.New("-llava and -mllama must name model folders")
	case f.heldout == "":
		return errors.New("-heldout must name a LLaVA JSONL file")
	case f.heldoutRows < 0:
		return fmt.Errorf("-heldout-rows %d: want 0 (all) or more", f.heldoutRows)
	case len(f.images) == 0:
		return errors.New("-images needs at least one count")
	case f.reps < 1 || f.batch < 1 || f.steps < 1 || f.maxNew < 1:
		return fmt.Errorf("-reps %d, -batch %d, -steps %d and -max-new %d must be at least 1", f.reps, f.batch, f.steps, f.maxNew)
	case strings.TrimSpace(f.question) == "":
		return errors.New("-question must not be empty")
	}
	return nil
}

// run measures both models and writes the table and its notes to out.
func run(ctx context.Context, out io.Writer, f flags) error {
	if err := f.validate(); err != nil {
		return err
	}
	r, err := measure(ctx, f)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, r.table())
	return err
}
