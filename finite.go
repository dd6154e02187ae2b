package fovea

import "fmt"

// AllowNonFinite lets Load accept weights holding NaN or ±Inf. By default
// they are refused: a NaN in lm_head or the embeddings makes greedy
// decoding return token 0 forever, and one in an attention projection
// gives plausible but wrong tokens, with no error anywhere.
func AllowNonFinite() Option { return func(o *options) { o.allowNonFinite = true } }

// checkFinite reports the first weight value that is NaN or ±Inf, naming
// the tensor and the flat index.
func checkFinite(a architecture) error {
	ts, err := namedWeights(a)
	if err != nil {
		return err
	}
	for _, nt := range ts {
		for i, v := range nt.W.Data {
			if v-v != 0 { // NaN or ±Inf
				return fmt.Errorf("weight %s holds %v at flat index %d (shape %v): refusing non-finite weights (fovea.AllowNonFinite() accepts them)",
					nt.Name, v, i, nt.W.Shape)
			}
		}
	}
	return nil
}

// checkFeatureValues refuses image features passed back in (Pixels.Features)
// that hold NaN or ±Inf, as pixel values are refused: they would reach the
// logits with no error.
func checkFeatureValues(f *Tensor) error {
	for i, v := range f.Data {
		if v-v != 0 { // NaN or ±Inf
			return fmt.Errorf("fovea: image features hold %v at flat index %d: features must be finite", v, i)
		}
	}
	return nil
}
