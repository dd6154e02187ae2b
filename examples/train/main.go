// Command train trains a LLaVA or Mllama model folder on a LLaVA-format
// conversation file with a recipe of stages (package train) and writes
// an HF model folder.
//
//	go run ./examples/train -model DIR -data FILE -out DIR [-recipe NAME|FILE.json] [-steps N]
//	    [-batch N] [-accum N] [-seed N] [-eval FILE] [-eval-every N] [-save-every N]
//	    [-stop-after N] [-resume] [-replicas N]
//
// Recipes: projector (stage 1), full (stage 2), llava (both), pretrain-text,
// pretrain-vision, or a JSON file holding a train.Recipe. stdout gets one
// line per optimizer step, "step N loss X lr L grad_norm G tok_s T stage S"
// (X with %.6f); a progress bar goes to stderr when it is a terminal, and
// the end summary to stderr. -stop-after N ends the run after step N as an
// interruption would (checkpoint written, schedule still that of -steps);
// -resume continues the run in -out from its latest checkpoint to the
// same total (the saved configuration is used). Ctrl-C stops cleanly
// after the current step with a checkpoint. -out is an HF folder
// (config.json, model.safetensors, tokenizer and processor files) that
// fovea.Load, examples/logits and HF transformers read; -replicas N
// splits each micro-batch over N replicas of the graph, one thread each
// (train.Config.Replicas: faster on several cores for small models); its checkpoints/
// hold the last checkpoints and the best one, each with trainer_state.json
// and optimizer.safetensors, and loss.png plots the losses. A -model
// folder with a config.json and a tokenizer but no weights trains from
// scratch (fovea.NewFromConfig, seeded by -seed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/train"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

type flags struct {
	model, data, out, recipe, eval                       string
	steps, batch, accum, evalEvery, saveEvery, stopAfter int
	keep, maxLen, replicas                               int
	seed                                                 uint64
	resume, skipBad, exact                               bool
}

func parse(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.model, "model", "", "model folder to start from (LLaVA or Mllama, with a tokenizer)")
	fs.StringVar(&f.data, "data", "", "training conversations (LLaVA JSON array or JSONL)")
	fs.StringVar(&f.out, "out", "", "output folder")
	fs.StringVar(&f.recipe, "recipe", train.RecipeLLaVA, "recipe name or FILE.json")
	fs.IntVar(&f.steps, "steps", 0, "total optimizer steps (0: the recipe's epochs)")
	fs.IntVar(&f.batch, "batch", train.DefaultBatch, "sequences per micro-batch")
	fs.IntVar(&f.accum, "accum", train.DefaultAccum, "micro-batches per optimizer step")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the data order")
	fs.StringVar(&f.eval, "eval", "", "held-out conversations to evaluate on")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "evaluate every N steps (0: at the end)")
	fs.IntVar(&f.saveEvery, "save-every", 0, "checkpoint every N steps (0: at the end)")
	fs.IntVar(&f.stopAfter, "stop-after", 0, "stop after step N as an interruption would")
	fs.BoolVar(&f.resume, "resume", false, "continue the run in -out")
	fs.IntVar(&f.keep, "keep", train.DefaultKeepLast, "checkpoints to keep (plus the best)")
	fs.IntVar(&f.maxLen, "max-len", 0, "longest sequence (0: the model's context)")
	fs.BoolVar(&f.skipBad, "skip-bad", false, "skip bad rows (counted) instead of failing")
	fs.BoolVar(&f.exact, "exact-match", false, "also measure exact-match of greedy answers at each evaluation")
	fs.IntVar(&f.replicas, "replicas", 0, "split each micro-batch over N replicas of the graph, one thread each (0 or 1: one graph on every thread)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.data == "" || f.out == "" || (f.model == "" && !f.resume) {
		return nil, errors.New("need -model DIR (unless -resume), -data FILE and -out DIR")
	}
	return f, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parse(args, stderr)
	if err != nil {
		return err
	}
	var cfg train.Config
	modelDir, ckpt := f.model, ""
	if f.resume {
		if ckpt, err = train.LatestCheckpoint(f.out); err != nil {
			return err
		}
		if cfg, err = train.SavedConfig(ckpt); err != nil {
			return err
		}
		modelDir = ckpt
	} else {
		if _, err := train.LatestCheckpoint(f.out); err == nil {
			return fmt.Errorf("%s already holds a run: continue it with -resume or choose another -out", f.out)
		}
		r, err := train.LoadRecipe(f.recipe)
		if err != nil {
			return err
		}
		cfg = train.Config{Recipe: r, Steps: f.steps, Batch: f.batch, Accum: f.accum, Seed: f.seed,
			EvalEvery: f.evalEvery, SaveEvery: f.saveEvery, KeepLast: f.keep, MaxLen: f.maxLen, SkipBad: f.skipBad, ExactMatch: f.exact,
			Replicas: f.replicas}
	}
	m, err := loadModel(ctx, modelDir, cfg.Seed)
	if err != nil {
		return err
	}
	data, err := train.LoadDataset(f.data, train.DataOptions{SkipBad: cfg.SkipBad})
	if err != nil {
		return err
	}
	var eval *train.Dataset
	if f.eval != "" {
		if eval, err = train.LoadDataset(f.eval, train.DataOptions{SkipBad: cfg.SkipBad}); err != nil {
			return err
		}
	}
	tr, err := train.New(m, data, eval, cfg, f.out)
	if err != nil {
		return err
	}
	if ckpt != "" {
		if err := tr.Restore(ckpt); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "resuming %s to step %d (the saved configuration is used; -recipe, -steps, -batch, -accum, -seed and the other run flags are ignored)\n", ckpt, tr.TotalSteps())
	}
	if n := len(tr.Skipped()); n > 0 {
		fmt.Fprintf(stderr, "skipped %d bad rows, the first: %v\n", n, tr.Skipped()[0])
	}
	var bar *progressbar.ProgressBar
	if fd, ok := stderr.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		bar = progressbar.NewOptions(tr.TotalSteps(), progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	tr.OnStep = func(s train.StepInfo) {
		fmt.Fprintf(stdout, "step %d loss %.6f lr %.3g grad_norm %.4f tok_s %.0f stage %s", s.Step, s.Loss, s.LR, s.GradNorm, s.TokPerSec, s.StageName)
		if s.HasEval {
			fmt.Fprintf(stdout, " eval_loss %.6f", s.EvalLoss)
			if cfg.ExactMatch {
				fmt.Fprintf(stdout, " eval_exact %.3f", s.EvalExact)
			}
		}
		fmt.Fprintln(stdout)
		if bar != nil {
			bar.Describe(fmt.Sprintf("%s loss %.4f lr %.2g %.0f tok/s", s.StageName, s.Loss, s.LR, s.TokPerSec))
			_ = bar.Set(s.Step)
		}
	}
	sum, err := tr.Run(ctx, f.stopAfter)
	if bar != nil {
		_ = bar.Finish()
	}
	if sum != nil {
		fmt.Fprint(stderr, sum)
	}
	if errors.Is(err, context.Canceled) {
		return nil // stopped by a signal, checkpoint written
	}
	return err
}

// loadModel loads a model folder for training; a folder with a
// config.json but no weights starts from freshly initialised weights
// (training from scratch), drawn with seed.
func loadModel(ctx context.Context, dir string, seed uint64) (*fovea.Model, error) {
	for _, f := range []string{"model.safetensors", "model.safetensors.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fovea.Load(ctx, dir, fovea.ForTraining())
		}
	}
	return fovea.NewFromConfig(ctx, dir, seed)
}
