package main

import (
	"context"
	"fmt"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/crossattn"
)

// Mllama side inputs read from -inputs (HF's argument names).
const (
	nameAspectRatioIDs     = "aspect_ratio_ids"
	nameAspectRatioMask    = "aspect_ratio_mask"
	nameCrossAttentionMask = "cross_attention_mask"
)

// runMllama handles model_type mllama. With -images the pixel values,
// aspect ratio ids and mask come from the folder's MllamaImageProcessor
// and the cross-attention mask from the prompt's image tokens. Without,
// pixel_values, aspect_ratio_ids (I64 [1, N]), aspect_ratio_mask (I64
// [1, N, tiles]) and, when present, cross_attention_mask (I64
// [1, T, N, tiles]) are read from -inputs. It then writes what runText
// writes: logits, generated_ids with -generate, pixel_values.
func runMllama(ctx context.Context, m *fovea.Model, in *inputs, generate int) ([]fovea.SafetensorsEntry, error) {
	if in.pixels != nil && in.pixels.Mllama == nil && in.file != nil {
		extra, err := readMllamaInputs(in.file)
		if err != nil {
			return nil, err
		}
		in.pixels.Mllama = extra
	}
	return runText(ctx, m, in, generate)
}

// readMllamaInputs reads the side inputs of pixel_values from the -inputs file.
func readMllamaInputs(f *fovea.SafetensorsFile) (*fovea.MllamaInputs, error) {
	ints := func(name string, dims int) ([]int, []int, error) {
		vals, shape, err := f.Int64(name)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(shape) != dims || shape[0] != 1 {
			return nil, nil, fmt.Errorf("%s has shape %v; one sequence [1, ...] of rank %d is supported", name, shape, dims)
		}
		out := make([]int, len(vals))
		for i, v := range vals {
			out[i] = int(v)
		}
		return out, shape, nil
	}
	ids, _, err := ints(nameAspectRatioIDs, 2)
	if err != nil {
		return nil, err
	}
	mask, mshape, err := ints(nameAspectRatioMask, 3)
	if err != nil {
		return nil, err
	}
	if mshape[1] != len(ids) {
		return nil, fmt.Errorf("%s has %d images, %s has %d", nameAspectRatioMask, mshape[1], nameAspectRatioIDs, len(ids))
	}
	in := &fovea.MllamaInputs{AspectRatioIDs: [][]int{ids}, AspectRatioMask: [][][]int{make([][]int, len(ids))}}
	for n := range ids {
		in.AspectRatioMask[0][n] = mask[n*mshape[2] : (n+1)*mshape[2]]
	}
	if _, ok := f.Info(nameCrossAttentionMask); ok {
		vals, shape, err := f.Int64(nameCrossAttentionMask)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nameCrossAttentionMask, err)
		}
		if in.CrossAttentionMask, err = crossattn.TokenMaskFromInt64(vals, shape); err != nil {
			return nil, err
		}
	}
	return in, nil
}
