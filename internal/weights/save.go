package weights

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// HF's from_pretrained refuses safetensors files without this metadata.
const (
	formatKey = "format"
	formatPT  = "pt"
)

// Save writes every non-nil tagged tensor of model to path as F32, named
// prefix+fieldName, via safetensors.Write (atomic, deterministic). A tied
// field that shares its tensor object with its target is not written
// (HF's save_pretrained drops tied weights the same way); Bind restores the
// sharing from the tie. The file carries __metadata__ {"format": "pt"} so
// HF's from_pretrained accepts it.
func Save(path string, prefix string, model any) error {
	fields, err := collect(model)
	if err != nil {
		return err
	}
	byRel := make(map[string]*tensor.Tensor, len(fields))
	for _, f := range fields {
		byRel[f.name] = *f.ptr
	}
	out := make(map[string]*tensor.Tensor, len(fields))
	for _, f := range fields {
		t := *f.ptr
		if t == nil {
			continue
		}
		if f.tied != "" && byRel[f.tied] == t {
			continue
		}
		if tensor.Numel(t.Shape) != len(t.Data) {
			return fmt.Errorf("weights: save %s: field %s (tensor %s) has shape %v but %d values", path, f.goPath, prefix+f.name, t.Shape, len(t.Data))
		}
		out[prefix+f.name] = t
	}
	return safetensors.Write(path, out, map[string]string{formatKey: formatPT})
}
