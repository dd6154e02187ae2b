package config_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/config"
)

func ExampleLoad() {
	m, err := config.Load("testdata/llava_tiny")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := m.Llava
	fmt.Println(m.ModelType, c.TextConfig.HiddenSize, c.TextConfig.HeadDim(), c.VisionConfig.NumPositions())
	fmt.Println(c.FeatureLayerIndices(), c.ImageFeatureTokens(), c.ImageTokenIndex)
	// Output:
	// llava 64 16 17
	// [2] 16 383
}

func ExampleParse() {
	// Absent keys take HF's defaults: num_key_value_heads = num_attention_heads,
	// head_dim = hidden_size / num_attention_heads, rms_norm_eps 1e-6.
	m, err := config.Parse([]byte(`{"model_type":"llama","vocab_size":100,"hidden_size":64,"num_attention_heads":8,"eos_token_id":[2,3]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Llama.NumKeyValueHeads, m.Llama.HeadDim(), m.Llama.RMSNormEps, m.Llama.EOSTokenID)

	_, err = config.Parse([]byte(`{"model_type":"llama","vocab_size":100,"hidden_size":64,"num_attention_heads":6}`))
	fmt.Println(err)
	// Output:
	// 8 8 1e-06 [2 3]
	// config: key "hidden_size": 64 not divisible by num_attention_heads 6
}
