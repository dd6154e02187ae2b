// Package gguf reads the header of a GGUF file: its typed metadata
// key/value pairs and its tensor descriptors. Tensor data is not read;
// File.DataOffset says where it starts (aligned to general.alignment,
// default 32 bytes).
//
// Layout (all little-endian): magic "GGUF", u32 version (2 or 3), u64
// tensor count, u64 metadata count, then metadata entries (u64-length key,
// u32 value type, value), then tensor infos (name, u32 n_dims, u64 dims
// innermost first as GGML stores them, u32 GGML type, u64 data offset).
// Strings are a u64 length followed by bytes; arrays are a u32 element type,
// a u64 count and the elements.
//
// Invariants and errors: every count and length is checked against the bytes
// left in the file before anything is allocated, so a hostile or truncated
// file returns an error naming the offending entry instead of allocating a
// huge slice or panicking. Unknown value types, bool bytes other than 0/1,
// duplicate keys, ranks above 4, arrays nested deeper than 4 and a
// non-power-of-two alignment are errors. FuzzParse exercises this.
//
// Typed getters (String, Strings, Uint, Ints, Float32s, Bool, Float) return
// an error wrapping ErrNotFound for a missing key and a type error naming the
// key for a mismatch.
package gguf
