package config

// Weight counts: how many values a checkpoint for a config must hold at
// least. Load compares them with the checkpoint header before it
// allocates the model, so a config whose missing keys took large HF
// defaults (the 7B Llama, ViT-L) beside a small checkpoint is refused
// instead of allocating gigabytes. Each count covers the matrices and
// embedding tables only (every one a required tensor); norms, biases and
// gates are left out, so the count never exceeds what the model really
// binds. All arithmetic is in int64: the sizes are capped by Validate, so
// no product overflows.

// MinWeights is the lower bound on the values a LlamaForCausalLM
// checkpoint for c holds: embeddings, each layer's attention and MLP
// projections, and the LM head unless tied.
func (c *Llama) MinWeights() int64 {
	d, v := int64(c.HiddenSize), int64(c.VocabSize)
	hd := int64(c.NumAttentionHeads) * int64(c.HeadDim())
	kvd := int64(c.NumKeyValueHeads) * int64(c.HeadDim())
	layer := 2*hd*d + 2*kvd*d + 3*d*int64(c.IntermediateSize)
	n := v*d + int64(c.NumHiddenLayers)*layer
	if !c.TieWordEmbeddings {
		n += v * d
	}
	return n
}

// MinWeights is the lower bound for a CLIP vision tower: the patch
// convolution, the position table and each layer's projections.
func (c *CLIPVision) MinWeights() int64 {
	d, p := int64(c.HiddenSize), int64(c.PatchSize)
	layer := 4*d*d + 2*d*int64(c.IntermediateSize)
	return d*int64(c.NumChannels)*p*p + int64(c.NumPositions())*d + int64(c.NumHiddenLayers)*layer
}

// MinWeights is the lower bound for a LLaVA checkpoint: the text model,
// the vision tower and the projector's first linear layer.
func (c *Llava) MinWeights() int64 {
	return c.TextConfig.MinWeights() + c.VisionConfig.MinWeights() +
		int64(c.ProjectorInputDim())*int64(c.TextConfig.HiddenSize)
}

// MinWeights is the lower bound for an Mllama text model: the embedding
// table (vocab_size + 8 rows), every layer's projections (self- and
// cross-attention alike), and the LM head unless tied.
func (c *MllamaText) MinWeights() int64 {
	d := int64(c.HiddenSize)
	hd := int64(c.NumAttentionHeads) * int64(c.HeadDim())
	kvd := int64(c.NumKeyValueHeads) * int64(c.HeadDim())
	layer := 2*hd*d + 2*kvd*d + 3*d*int64(c.IntermediateSize)
	n := int64(c.NumEmbeddings())*d + int64(c.NumHiddenLayers)*layer
	if !c.TieWordEmbeddings {
		n += int64(c.VocabSize) * d
	}
	return n
}

// MinWeights is the lower bound for an Mllama vision tower: the patch
// convolution, the position and tile embeddings, and the projections of
// the local and global layers.
func (c *MllamaVision) MinWeights() int64 {
	d, p := int64(c.HiddenSize), int64(c.PatchSize)
	tiles, tokens := int64(c.MaxNumTiles), int64(c.TileTokens())
	ids := int64(c.MaxAspectRatioID()) + 1
	layer := 4*d*d + 2*d*int64(c.IntermediateSize)
	return d*int64(c.NumChannels)*p*p + tokens*d + ids*tiles*tokens*d + 2*ids*tiles*d +
		int64(c.NumHiddenLayers+c.NumGlobalLayers)*layer
}

// MinWeights is the lower bound for an Mllama checkpoint: text model,
// vision tower and the projector.
func (c *Mllama) MinWeights() int64 {
	return c.TextConfig.MinWeights() + c.VisionConfig.MinWeights() +
		int64(c.VisionConfig.VisionOutputDim)*int64(c.TextConfig.HiddenSize)
}

// MinWeights is the lower bound on the weight values of the model m
// describes (0 for an empty Model).
func (m *Model) MinWeights() int64 {
	switch {
	case m.Llama != nil:
		return m.Llama.MinWeights()
	case m.CLIPVision != nil:
		return m.CLIPVision.MinWeights()
	case m.Llava != nil:
		return m.Llava.MinWeights()
	case m.Mllama != nil:
		return m.Mllama.MinWeights()
	}
	return 0
}
