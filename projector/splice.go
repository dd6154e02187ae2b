package projector

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/backend"
)

// ExpandImageTokens prepares prompt ids for Splice. HF 4.45's
// LlavaForConditionalGeneration accepts two conventions:
//   - expanded: tokensPerImage copies of imageToken per image (what
//     LlavaProcessor writes); the ids are returned unchanged;
//   - legacy: one imageToken per image. HF picks it when the number of
//     image tokens is below imageSeqLength (config image_seq_length); each
//     placeholder is then replaced by tokensPerImage copies.
//
// legacy reports which convention was found. A placeholder count that
// does not fit numImages is an error naming both counts. Two deliberate
// leniencies: a count below imageSeqLength that equals numImages ×
// tokensPerImage is taken as expanded (HF would call it legacy and fail),
// which lets configs with a too-large image_seq_length still work; and one
// placeholder per image is taken as legacy even when there are
// imageSeqLength images or more (HF would call it expanded and fail), so a
// model with few tokens per image takes more images than that (9 image
// tokens: 9 images or more) in the one-placeholder form.
func ExpandImageTokens(ids []int, imageToken, imageSeqLength, tokensPerImage, numImages int) (out []int, legacy bool, err error) {
	count := 0
	for _, id := range ids {
		if id == imageToken {
			count++
		}
	}
	if numImages == 0 {
		if count != 0 {
			return nil, false, fmt.Errorf("projector: the prompt has %d image tokens (id %d) but no image was given", count, imageToken)
		}
		return ids, false, nil
	}
	expanded := count == numImages*tokensPerImage
	if (count < imageSeqLength && !expanded) || (count == numImages && !expanded) {
		// Legacy form: one placeholder per image.
		if count != numImages {
			return nil, true, fmt.Errorf("projector: the prompt has %d image tokens (id %d) for %d images "+
				"(want one per image, or %d per image already expanded)", count, imageToken, numImages, tokensPerImage)
		}
		out = make([]int, 0, len(ids)+count*(tokensPerImage-1))
		for _, id := range ids {
			if id != imageToken {
				out = append(out, id)
				continue
			}
			for range tokensPerImage {
				out = append(out, imageToken)
			}
		}
		return out, true, nil
	}
	if count != numImages*tokensPerImage {
		return nil, false, fmt.Errorf("projector: the prompt has %d image tokens (id %d) but %d images need %d (%d each)",
			count, imageToken, numImages, numImages*tokensPerImage, tokensPerImage)
	}
	return ids, false, nil
}

// Splice writes image features into the embedding rows whose id is
// imageToken, in order (image 0 patches 0..P-1, image 1, ...), as HF's
// masked_scatter does: embeds [T, D], ids len T, features [N, P, D] →
// [T, D]. The number of image tokens must equal N·P.
func Splice(b Backend, embeds Value, ids []int, imageToken int, features Value) (Value, error) {
	es, fs := b.Shape(embeds), b.Shape(features)
	if len(es) != 2 || es[0] != len(ids) {
		return nil, fmt.Errorf("projector: Splice wants embeds [T=%d, D], got %v", len(ids), es)
	}
	if len(fs) != 3 || fs[2] != es[1] {
		return nil, fmt.Errorf("projector: Splice wants features [N, P, %d], got %v", es[1], fs)
	}
	rows := fs[0] * fs[1]
	count := 0
	for _, id := range ids {
		if id == imageToken {
			count++
		}
	}
	if count != rows {
		return nil, fmt.Errorf("projector: %d image tokens (id %d) in the prompt but %d image feature rows (%d images × %d)",
			count, imageToken, rows, fs[0], fs[1])
	}
	if count == 0 {
		return embeds, nil
	}
	feat := b.Reshape(features, rows, es[1]) // [N·P, D]
	// Runs of text rows and image rows, joined in order.
	var parts []backend.Value
	next := 0 // next feature row
	for start := 0; start < len(ids); {
		img := ids[start] == imageToken
		end := start
		for end < len(ids) && (ids[end] == imageToken) == img {
			end++
		}
		if img {
			parts = append(parts, b.Slice(feat, 0, next, next+end-start)) // [run, D]
			next += end - start
		} else {
			parts = append(parts, b.Slice(embeds, 0, start, end)) // [run, D]
		}
		start = end
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return b.Concat(0, parts...), nil // [T, D]
}
