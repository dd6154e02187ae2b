// Package tensor holds Fovea's one tensor type: a dense row-major float32
// array with a shape, outermost dimension first.
//
// Shape legend used across the project (defined once, here):
//
//	B  batch (sequences or images)      T  tokens (sequence length)
//	D  model width                       H  attention heads
//	KVH key/value heads (GQA)            Dh head width (D / H)
//	P  patches (vision tokens)           V  vocabulary size
//	F  feed-forward (intermediate) width N  images, C channels, S tile side
//
// A Tensor owns no device or graph state: the eager backend computes on it
// directly, the graph backend wraps it as a gorgonia value, and the
// safetensors reader and writer produce and consume it. Views (Reshape, Row)
// share Data with their parent; Clone copies.
package tensor
