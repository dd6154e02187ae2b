package graph

import (
	"slices"

	"gorgonia.org/gorgonia"

	"github.com/fovea-ml/fovea/internal/backend"
)

// EmbeddingsOf returns the Embedding outputs built so far that look up
// rows of table (a Value of this backend), in the order they were made.
// Layer code makes its lookups internally; a trainer that reuses one
// graph for many batches finds them here and rebinds their ids with
// SetIDs (e.g. the aspect ratio ids of the Mllama tile embeddings).
func (b *Backend) EmbeddingsOf(table backend.Value) []backend.Value {
	tn := b.Node(table)
	var ids []int64
	for y, f := range b.feeds {
		if !f.embedding { // GatherRows, CrossEntropy
			continue
		}
		for it := b.g.From(y.ID()); it.Next(); {
			if it.Node().ID() == tn.ID() {
				ids = append(ids, y.ID())
				break
			}
		}
	}
	slices.Sort(ids)
	out := make([]backend.Value, 0, len(ids))
	for _, id := range ids {
		if n, ok := b.g.Node(id).(*gorgonia.Node); ok {
			out = append(out, n)
		}
	}
	return out
}
