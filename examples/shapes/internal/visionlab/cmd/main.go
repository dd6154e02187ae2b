// Command cmd runs one vision-pretraining experiment of visionlab and
// prints a JSON line per measurement (held-out per-attribute accuracy
// against training wall time). Run it with GOMAXPROCS=1 on a shared box:
//
//	GOMAXPROCS=1 go run ./examples/shapes/internal/visionlab/cmd -image 48 -patch 16 -budget 3m
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/fovea-ml/fovea/examples/shapes/internal/visionlab"
)

func main() {
	var c visionlab.Config
	flag.IntVar(&c.ImageSize, "image", 48, "tower input size (64 = no resize)")
	flag.IntVar(&c.PatchSize, "patch", 16, "patch size")
	flag.IntVar(&c.Width, "width", 64, "tower width")
	flag.IntVar(&c.Layers, "layers", 2, "tower layers")
	flag.IntVar(&c.Heads, "heads", 4, "attention heads")
	flag.IntVar(&c.MLP, "mlp", 128, "MLP width")
	flag.IntVar(&c.Batch, "batch", 32, "batch size")
	flag.Float64Var(&c.LR, "lr", 2e-3, "peak learning rate")
	flag.Float64Var(&c.WeightDecay, "wd", 0, "AdamW weight decay")
	flag.IntVar(&c.TrainImages, "train", 6000, "training images")
	flag.IntVar(&c.HeldOutImages, "heldout", 500, "held-out images")
	flag.Uint64Var(&c.Seed, "seed", 1, "seed")
	flag.StringVar(&c.Act, "act", "gelu", "hidden_act")
	flag.BoolVar(&c.RawHead, "raw-head", false, "attribute head without LayerNorm (reads the residual stream)")
	flag.BoolVar(&c.TokenHead, "token-head", false, "also supervise every patch token with its column's attributes")
	var fc visionlab.FusionConfig
	flag.IntVar(&fc.Width, "dwidth", 64, "decoder width")
	flag.IntVar(&fc.Layers, "dlayers", 2, "decoder layers")
	flag.IntVar(&fc.Heads, "dheads", 4, "decoder heads")
	flag.IntVar(&fc.KVHeads, "dkv", 2, "decoder kv heads")
	flag.IntVar(&fc.MLP, "dmlp", 176, "decoder MLP width")
	flag.IntVar(&fc.Batch, "dbatch", 32, "fusion batch (rows)")
	flag.Float64Var(&fc.LR, "dlr", 2e-3, "fusion peak learning rate")
	flag.IntVar(&fc.EvalImages, "eval-images", 100, "held-out images whose rows are decoded")
	flag.IntVar(&fc.Show, "show", 0, "print this many wrong answers")
	flag.BoolVar(&fc.DescribeLast, "describe-last", false, "in packed conversations, ask for the caption last")
	flag.IntVar(&fc.Turns, "turns", 1, "questions of one image packed into one training conversation")
	fusionBudget := flag.Duration("fusion-budget", 0, "then train projector + decoder on frozen features this long (0 = skip)")
	fusionEvery := flag.Duration("fusion-every", 30*time.Second, "fusion evaluation interval")
	budget := flag.Duration("budget", 3*time.Minute, "training wall time")
	every := flag.Duration("every", 20*time.Second, "evaluate every this much training time")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	enc := json.NewEncoder(os.Stdout)
	cfgLine, _ := json.Marshal(c)
	fmt.Printf("config %s\n", cfgLine)
	m, _, err := visionlab.Run(ctx, c, *budget, *every, func(p visionlab.Point) { _ = enc.Encode(p) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "visionlab:", err)
		os.Exit(1)
	}
	fmt.Printf("params %d, total wall %.1fs\n", m.Params(), time.Since(start).Seconds())
	if *fusionBudget > 0 {
		fc.Seed, fc.Log = c.Seed, os.Stdout
		err := visionlab.RunFusion(ctx, c, fc, m, *fusionBudget, *fusionEvery, func(p visionlab.FusionPoint) { _ = enc.Encode(p) })
		if err != nil {
			fmt.Fprintln(os.Stderr, "visionlab:", err)
			os.Exit(1)
		}
		fmt.Printf("total wall %.1fs\n", time.Since(start).Seconds())
	}
}
