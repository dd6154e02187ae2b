package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
)

// dataDir is the dataset's folder under -out.
const dataDir = "data"

// contextLength is the decoder context the tokenizer config announces: the
// longest prompt plus answer is well under 64 text tokens, plus the image
// tokens of the unified style.
const contextLength = 128

// prepare writes the dataset (-out/data: train and held-out splits) and the
// tokenizer (-out/tokenizer.json, tokenizer_config.json) for the style.
func prepare(ctx context.Context, log io.Writer, f flags) (trainPath, heldPath string, err error) {
	start := time.Now()
	dir := filepath.Join(f.out, dataDir)
	trainPath, err = shapes.WriteSplit(ctx, dir, f.seed, shapes.Train, f.trainImages)
	if err != nil {
		return "", "", err
	}
	heldPath, err = shapes.WriteSplit(ctx, dir, f.seed, shapes.HeldOut, f.heldOutImages)
	if err != nil {
		return "", "", err
	}
	rows, err := shapes.ReadRows(trainPath)
	if err != nil {
		return "", "", err
	}
	fmt.Fprintf(log, "dataset: %d train images (%d rows) in %s, %d held-out images in %s (%.1fs)\n",
		f.trainImages, len(rows), trainPath, f.heldOutImages, heldPath, time.Since(start).Seconds())
	start = time.Now()
	tok, err := trainTokenizer(ctx, rows)
	if err != nil {
		return "", "", err
	}
	if _, err := writeTokenizer(f.out, tok, f.fusion, contextLength); err != nil {
		return "", "", err
	}
	fmt.Fprintf(log, "tokenizer: %d tokens in %s (%.1fs)\n", tok.VocabSize(), f.out, time.Since(start).Seconds())
	return trainPath, heldPath, nil
}
