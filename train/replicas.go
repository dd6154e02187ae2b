package train

import (
	"context"
	"fmt"

	"github.com/fovea-ml/fovea/internal/backend"
	"github.com/fovea-ml/fovea/internal/backend/graph"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Data parallelism (Config.Replicas): a micro-batch's Batch rows are split
// into N contiguous shards, shard s holding rows [Batch·s/N, Batch·(s+1)/N)
// (the first shards larger when N does not divide Batch; rows past the
// micro-batch's examples are padding, so a shard may hold none). Each
// shard runs on its own replica of the compiled graph (graph.Replicas),
// the replicas side by side on one thread each; the summed gradients,
// each shard weighted by its share of the targets, are the micro-batch's
// mean-loss gradients, as one graph computes them.
//
// One replica set is compiled per bucket, as one graph is without
// replicas. Its key is the micro-batch's bucket with the shard shapes: the
// tokens of the micro-batch's longest row (every shard pads to them), and
// the image slots and target rows of the largest shard.

// replicaCount is the number of replicas a micro-batch runs on (1: one graph).
func (t *Trainer) replicaCount() int { return max(1, min(t.cfg.Replicas, t.cfg.Batch)) }

// shardSpan is the batch rows [lo, hi) of shard s of n over bsz rows.
func shardSpan(bsz, n, s int) (lo, hi int) { return bsz * s / n, bsz * (s + 1) / n }

// microBatchReplicas is microBatch on n replicas: it lays out every
// shard for the replica set's bucket and returns the set (building it on
// the bucket's first batch) with the shards' batches.
func (t *Trainer) microBatchReplicas(ctx context.Context, exs []*example, stage int, visionTrains bool, n int) (*stepGraph, *batch, error) {
	bsz := t.cfg.Batch
	imgs, longest, err := t.imageInputs(ctx, exs, visionTrains)
	if err != nil {
		return nil, nil, err
	}
	tokens := bucketTokens(longest, t.maxLen())
	k := bucket{stage: stage, tokens: tokens}
	shardExs, shardImgs := make([][]*example, n), make([][][]*imageData, n)
	for s := range n {
		lo, hi := shardSpan(bsz, n, s)
		lo, hi = min(lo, len(exs)), min(hi, len(exs))
		shardExs[s], shardImgs[s] = exs[lo:hi], imgs[lo:hi]
		targets := 0
		for _, e := range exs[lo:hi] {
			targets += e.targets()
		}
		k.slots = max(k.slots, t.arch.slots(exs[lo:hi]))
		k.rows = max(k.rows, bucketRows(targets, (hi-lo)*tokens))
	}
	bt := &batch{}
	for s := range n {
		lo, hi := shardSpan(bsz, n, s)
		sb, err := t.arch.layout(shardExs[s], shardImgs[s], t.shardBucket(k, hi-lo), hi-lo, visionTrains)
		if err != nil {
			return nil, nil, err
		}
		bt.shards = append(bt.shards, sb)
		bt.tokens += sb.tokens
		bt.ntargets += sb.ntargets
	}
	sg, ok := t.graphs[k]
	if !ok {
		var err error
		if sg, err = t.buildReplicas(k, n, visionTrains); err != nil {
			return nil, nil, fmt.Errorf("train: building %d replicas of the graph for %d×%d tokens: %w", n, bsz, tokens, err)
		}
		t.graphs[k] = sg
		t.builds++
	}
	if err := sg.bind(bt); err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	return sg, bt, nil
}

// shardBucket is the bucket of one shard of rows batch rows: the set's,
// with no more target rows than the shard has positions.
func (t *Trainer) shardBucket(k bucket, rows int) bucket {
	k.rows = min(k.rows, rows*k.tokens)
	return k
}

// buildReplicas builds and compiles the replica set of bucket k.
func (t *Trainer) buildReplicas(k bucket, n int, visionTrains bool) (*stepGraph, error) {
	lr := t.lrs(k.stage)
	opt := graph.Options{Trainable: func(w *tensor.Tensor) bool {
		_, on := lr[t.groups[w]]
		return on
	}}
	set := &stepGraph{}
	rep, err := graph.NewReplicas(n, opt, func(g *graph.Backend, s int) (backend.Value, error) {
		lo, hi := shardSpan(t.cfg.Batch, n, s)
		sg, err := t.arch.build(g, t.shardBucket(k, hi-lo), hi-lo, visionTrains)
		if err != nil {
			return nil, err
		}
		set.shards = append(set.shards, sg)
		return sg.loss, nil
	})
	if err != nil {
		return nil, err
	}
	set.rep = rep
	set.g = rep.Backend(0)
	set.params = rep.Params()
	return set, nil
}

// bindShards rebinds every replica's inputs to its shard's batch.
func (sg *stepGraph) bindShards(bt *batch) error {
	if len(bt.shards) != len(sg.shards) {
		return fmt.Errorf("%d shard batches for %d replicas", len(bt.shards), len(sg.shards))
	}
	for s, sh := range sg.shards {
		if err := sh.bind(bt.shards[s]); err != nil {
			return fmt.Errorf("shard %d: %w", s, err)
		}
	}
	return nil
}

// run runs the graph, or every replica and the gradient sum.
func (sg *stepGraph) run(ctx context.Context) error {
	if sg.rep != nil {
		return sg.rep.Run(ctx)
	}
	return sg.m.Run(ctx)
}

// lossValue is the mean loss over the micro-batch's targets of the last run.
func (sg *stepGraph) lossValue() (float64, error) {
	if sg.rep != nil {
		return sg.rep.Loss(), nil
	}
	lv, err := sg.g.Read(sg.loss)
	if err != nil {
		return 0, err
	}
	return float64(lv.Data[0]), nil
}

// gradParams are the parameters whose gradients (summed over the
// replicas) the last run computed.
func (sg *stepGraph) gradParams() []graph.Param { return sg.params }

// close releases the machine or the replicas.
func (sg *stepGraph) close() error {
	if sg.rep != nil {
		return sg.rep.Close()
	}
	return sg.m.Close()
}
