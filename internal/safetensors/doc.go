// Package safetensors reads and writes HuggingFace .safetensors checkpoints
// in pure Go.
//
// # Format
//
// A file is: an 8-byte little-endian length N, N bytes of UTF-8 JSON (the
// header), then the data section. The header maps tensor names to
// {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to
// the data section, plus an optional "__metadata__" string->string map.
// Elements are little-endian, row-major, outermost dimension first, exactly
// the layout of tensor.Tensor.
//
// # Reading
//
// Open memory-maps the file read-only (syscall.Mmap on Linux and the BSDs,
// no cgo; other platforms read the whole file instead, see mmap_other.go)
// and validates the header before trusting any of it:
//
//   - the header length fits the file and is at most MaxHeaderSize;
//   - the header is one JSON object with unique keys and nothing after it;
//   - "__metadata__", if present, maps strings to strings;
//   - every dtype is one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL;
//   - every dimension is non-negative and the element count and byte size
//     do not overflow;
//   - data_offsets lie inside the data section and span exactly
//     numel * dtype size bytes;
//   - no two tensors share a byte (gaps between tensors are tolerated).
//
// Nothing is allocated in proportion to a size read from the file before
// that size has been checked against the file's real length, so hostile
// files give errors, never panics or huge allocations (fuzzed:
// FuzzParseHeader, FuzzOpen).
//
// Float32 copies out of the map once (F32 is a single memmove on
// little-endian hosts; F16, BF16 and F64 are converted exactly or, for
// F64, rounded) into a fresh tensor the caller may mutate. Int64 widens
// I64/I32/I16/I8/U8/BOOL. Raw returns a read-only view of the map, valid
// until Close. A sharded checkpoint (model.safetensors.index.json, or a
// directory holding it) opens every shard and requires the index and the
// shards to agree exactly; it then behaves as one File.
//
// The map is shared with the file on disk: truncating a checkpoint while
// it is open makes later reads fault (SIGBUS), as with any mmap reader.
//
// # Writing
//
// Write (F32 tensors) and WriteEntries (any dtype, raw bytes) lay tensors
// out contiguously in HF's order (by dtype rank, widest first, then by
// sorted name), with compact JSON padded by spaces to a multiple of 8 bytes
// as HF does: the output is deterministic, every tensor is aligned to its
// element size, and rewriting an HF file reproduces it byte for byte
// (tested on the golden checkpoints). Writes are atomic: temp file in the same
// directory, fsync, rename, fsync of the directory.
//
// # Errors
//
// Every error names the file and, where there is one, the tensor.
package safetensors
