// Command shapes is the whole recipe of a multimodal LLM in miniature on
// the shapes world (shared/notes/shapes-world.md): dataset, tokenizer,
// language-model and vision pretraining, fusion training, held-out
// accuracy. See DESIGN.md for the recipe and the measurements behind it.
//
//	go run ./examples/shapes -fusion unified -seed 1 -out /tmp/shapes-llava
//	go run ./examples/shapes -fusion cross   -seed 1 -out /tmp/shapes-mllama
//	go run ./examples/shapes -eval heldout.jsonl -model testdata/shapes-llava
//
// Training writes the dataset (DIR/data: train and held-out splits, PNGs
// and LLaVA JSONL) and the byte-level BPE tokenizer (DIR/tokenizer.json,
// DIR/tokenizer_config.json with a chat template) first; the training
// stages need the train/ package and report that they are not built yet.
//
// Right after text pretraining, training keeps the language model as it
// is then in DIR/text-llm (a Llama folder with the run's tokenizer):
// examples/compare measures the trained model's text-only behaviour
// against it.
//
// -eval answers every row of a LLaVA JSONL file (its human turn; a gpt
// turn, when present, is the expected answer) and prints one JSON line per
// row, in order, {"id": …, "answer": "…"}, then "accuracy: X" when answers
// were given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Fusion styles.
const (
	fusionUnified = "unified"
	fusionCross   = "cross"
)

// Dataset sizes of a default run (images; each image gives 4–11 rows).
const (
	defaultTrainImages   = 20000
	defaultHeldOutImages = 500
	// defaultMaxNew bounds an answer: the longest caption is about 30
	// tokens with the trained vocabulary.
	defaultMaxNew = 48
)

type flags struct {
	fusion        string
	seed          uint64
	out           string
	eval, model   string
	trainImages   int
	heldOutImages int
	dataOnly      bool
	maxNew        int
	budget        budgets
	cross         crossOptions
}

func main() {
	var f flags
	flag.StringVar(&f.fusion, "fusion", fusionUnified, "fusion style: unified (LLaVA) or cross (Mllama)")
	flag.Uint64Var(&f.seed, "seed", 1, "seed of the dataset and of training")
	flag.StringVar(&f.out, "out", "shapes-out", "output folder (dataset, tokenizer, model)")
	flag.StringVar(&f.eval, "eval", "", "LLaVA JSONL file to answer (with -model)")
	flag.StringVar(&f.model, "model", "", "model folder for -eval")
	flag.IntVar(&f.trainImages, "train-images", defaultTrainImages, "training images (cross: 6000 unless given)")
	flag.IntVar(&f.heldOutImages, "heldout-images", defaultHeldOutImages, "held-out images")
	flag.BoolVar(&f.dataOnly, "data-only", false, "write the dataset and tokenizer, then stop")
	flag.IntVar(&f.maxNew, "max-new", defaultMaxNew, "most tokens per answer (-eval)")
	flag.IntVar(&f.budget.text, "text-steps", 0, "text pretraining steps (0: 600 unified, 1200 cross)")
	flag.IntVar(&f.budget.vision, "vision-steps", defaultVisionSteps, "vision pretraining steps")
	flag.IntVar(&f.budget.stage1, "stage1-steps", defaultStage1Steps, "stage 1 (projector) steps")
	flag.IntVar(&f.budget.stage2, "stage2-steps", defaultStage2Steps, "stage 2 (projector + LLM) steps")
	flag.IntVar(&f.budget.batch, "batch", defaultBatch, "batch size of every stage")
	flag.Float64Var(&f.budget.fusionLR, "fusion-lr", 0, "peak learning rate of stage 2 or of the cross stage (0: 1e-3 unified, 3e-3 cross)")
	flag.StringVar(&f.cross.layout, "cross-layout", "", "cross: the decoder's layers in order, s = self-attention (the LLM), x = gated cross-attention (\"\": xsxsxsx)")
	flag.IntVar(&f.cross.width, "text-width", 0, "cross: the decoder's hidden size (0: 64)")
	flag.StringVar(&f.cross.textExtra, "text-extra", "", "cross: extra text-pretraining rows: none, echo (each colour/shape/where question's attribute words asked back), code (the same as digits; the default)")
	flag.IntVar(&f.cross.steps, "cross-steps", 0, "cross: steps of the cross-attention stage (0: 2300)")
	flag.IntVar(&f.cross.replicas, "replicas", 0, "data-parallel replicas of every training stage (train.Config.Replicas; 0 or 1: one graph)")
	flag.IntVar(&f.cross.logEvery, "log-every", 0, "print the mean training loss every N steps of each stage (0: off)")
	flag.Parse()
	given := map[string]bool{}
	flag.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if f.fusion == fusionCross && !given["train-images"] {
		f.trainImages = defaultCrossTrainImages
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, f); err != nil {
		fmt.Fprintln(os.Stderr, "shapes:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, f flags) error {
	if f.eval != "" || f.model != "" {
		if f.eval == "" || f.model == "" {
			return errors.New("-eval FILE.jsonl and -model DIR go together")
		}
		if f.maxNew < 1 {
			return fmt.Errorf("-max-new %d must be at least 1", f.maxNew)
		}
		return runEval(ctx, out, f.eval, f.model, f.maxNew)
	}
	if f.fusion != fusionUnified && f.fusion != fusionCross {
		return fmt.Errorf("-fusion %q: want %q or %q", f.fusion, fusionUnified, fusionCross)
	}
	if f.trainImages < 1 || f.heldOutImages < 1 {
		return fmt.Errorf("-train-images %d and -heldout-images %d must be at least 1", f.trainImages, f.heldOutImages)
	}
	if f.out == "" {
		return errors.New("-out must name a folder")
	}
	resolveCross(&f)
	for _, b := range []int{f.budget.text, f.budget.vision, f.budget.stage1, f.budget.stage2, f.budget.batch} {
		if b < 1 {
			return fmt.Errorf("-text-steps, -vision-steps, -stage1-steps, -stage2-steps and -batch must be at least 1")
		}
	}
	if err := checkCross(f.cross); err != nil {
		return err
	}
	if f.budget.fusionLR < 0 || f.budget.fusionLR > 1 {
		return fmt.Errorf("-fusion-lr %v: want a rate in (0, 1]", f.budget.fusionLR)
	}
	trainPath, heldPath, err := prepare(ctx, out, f)
	if err != nil {
		return err
	}
	if f.dataOnly {
		return nil
	}
	return trainModel(ctx, out, f, trainPath, heldPath)
}
