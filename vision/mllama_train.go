package vision

import (
	"context"
	"fmt"
	"slices"
)

// ForwardValues is Forward on values, for training the encoder on the
// graph backend: pixels [B, N, tiles, C, S, S] and the attention mask
// [B·N, 1, tiles·Pp, tiles·Pp] (MllamaAspectRatioMask) are graph inputs a
// trainer rebinds for every batch of a shape; ids are the aspect ratio ids
// of the B·N images (1-based, 0 for a padding image), which the graph
// keeps. Shapes and ids are checked.
func (m *MllamaVision) ForwardValues(b Backend, pixels Value, ids []int, mask Value) (*MllamaVisionOutput, error) {
	s := b.Shape(pixels)
	c := m.cfg
	if len(s) != 6 || s[2] != m.tiles || s[3] != c.NumChannels || s[4] != c.ImageSize || s[5] != c.ImageSize {
		return nil, fmt.Errorf("vision: mllama: pixel values %v, want [B, N, %d, %d, %d, %d]", s, m.tiles, c.NumChannels, c.ImageSize, c.ImageSize)
	}
	bn, l := s[0]*s[1], m.tiles*m.pad
	if len(ids) != bn {
		return nil, fmt.Errorf("vision: mllama: %d aspect ratio ids for %d images", len(ids), bn)
	}
	for i, id := range ids {
		if id < 0 || id > len(c.SupportedAspectRatios) {
			return nil, fmt.Errorf("vision: mllama: aspect ratio id %d of image %d outside [0, %d]", id, i, len(c.SupportedAspectRatios))
		}
	}
	if ms := b.Shape(mask); !slices.Equal(ms, []int{bn, 1, l, l}) {
		return nil, fmt.Errorf("vision: mllama: attention mask %v, want [%d, 1, %d, %d]", ms, bn, l, l)
	}
	return m.forward(context.Background(), b, pixels, ids, mask)
}
