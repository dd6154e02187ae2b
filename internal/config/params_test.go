package config

import "testing"

// TestMinWeightsPublishedCounts compares the weight-count lower bound with
// the parameter counts published for real models: never above them, and
// within 1% (norms, biases and gates are all that is left out).
func TestMinWeightsPublishedCounts(t *testing.T) {
	smol := SmolLM2_135M()
	llama7b := DefaultLlama()
	vitL := CLIPViTL14_336()
	mllama := Llama32Vision11B()
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"SmolLM2-135M", smol.MinWeights(), 134_515_008},             // HF num_parameters()
		{"Llama-2-7B defaults", llama7b.MinWeights(), 6_738_415_616}, // LlamaForCausalLM(LlamaConfig())
		{"CLIP ViT-L/14-336 vision", vitL.MinWeights(), 303_507_456}, // CLIPVisionModel
		{"Llama-3.2-11B-Vision", mllama.MinWeights(), 10_670_220_835},
	} {
		if c.got > c.want || float64(c.got) < 0.99*float64(c.want) {
			t.Errorf("%s: MinWeights %d, published %d", c.name, c.got, c.want)
		}
	}
}
