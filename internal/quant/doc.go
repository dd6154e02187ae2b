// Package quant stores Linear weights in Q8_0 form and multiplies
// activations with them in int8, the memory-bound decode path of the
// decoder (backend.Eager.Prepared); sub-package gemv holds the float32
// small-m product that backend.Eager.Linear uses for decode steps.
//
// # Format
//
// A Q8Matrix is W [Out, In] cut along In into blocks of BlockSize = 32
// weights. Block b of row r keeps a float32 scale d = max|w| / 127 and 32
// values q = round(w / d) ∈ [-127, 127] (half away from zero), so
// w ≈ q·d with |w − q·d| ≤ d/2. Scales are float32 (not llama.cpp's
// float16): 1.125 bytes per weight instead of 1.0625, no conversion in the
// kernels. Storage is two flat arrays, not interleaved blocks:
//
//	qs [Out, In] uint8    q + 128 (offset binary, 1..255)
//	d  [Out, In/32] f32   block scales
//
// both padded at the end so a kernel may read one block pair past the last
// row. In must be a multiple of 32; QuantizeQ8_0 returns an error
// otherwise (QuantizeModel leaves such weights in float32, e.g. Llama
// tiny's down_proj with In = 176), and for non-finite weights.
//
// # Product
//
// MatMulT(y, x, m) computes y [m, Out] = x [m, In] · Wᵀ. Each activation
// row is quantized to Q8_0 on the fly (as llama.cpp's q8_0×q8_0 dot), then
//
//	y[i, r] = Σ_b d[r, b] · xd[i, b] · Σ_j q[r, b, j] · xq[i, b, j]
//
// with exact int32 block sums. Kernels, chosen once at start-up from the
// CPU (golang.org/x/sys/cpu; FOVEA_QUANT_LEVEL=go|avx2|vnni caps it):
//
//   - vnni (AVX-512 F+BW+VNNI): VPDPBUSD multiplies unsigned by signed
//     bytes. The stored offset weights are the unsigned operand and xq the
//     signed one; Σ (q+128)·x = Σ q·x + 128·Σx, so each block's 8 int32
//     lanes start at −16·Σxq (precomputed per activation block). Two
//     blocks per zmm; VPERMPS spreads the two row scales over the lanes.
//   - avx2: the sign trick. VPMADDUBSW(|xq|, q·sign(xq)) cannot saturate
//     (2·127·127 < 32767); VPMADDWD with ones widens to int32.
//   - go: portable loops (also the purego / non-amd64 build).
//
// MatMulTRef is the plain reference twin used as the test oracle (same
// activation quantization, float64 accumulation); the vector kernels sum
// in float32 lanes, so they agree to float32 rounding, not bit for bit.
//
// # Threading
//
// When m·Out·In ≥ 2^17 the output rows are split, in tiles of 32 rows,
// into runtime.GOMAXPROCS(0) contiguous ranges, one goroutine each (the
// caller runs the last); no pool, no oversubscription. For m > 1 each
// goroutine streams a 32-row tile against every activation row before
// moving on, so the tile is read from memory once.
//
// # Accuracy
//
// Per output, |y_q − W·x| ≤ Σ_j |x_j|·dw/2 + |w_j|·dx/2 + dw·dx/4 (block
// scales dw, dx); tests check this bound in float64. On HF's llama_tiny
// case (width 64), Q8_0 moves the logits by ≈ 0.07 (of |logit| ≤ 3.2)
// and greedy decoding is unchanged.
//
// # Choosing weights
//
// QuantizeModel takes (name, tensor) pairs (TensorsOf lists a tagged
// struct with internal/weights.Walk) and compresses each distinct tensor
// listed under a name ending in "_proj.weight", "fc1.weight",
// "fc2.weight" or "lm_head.weight" — which covers a tied embedding, listed
// as both "embed_tokens.weight" and "lm_head.weight"; Eager.Embedding then
// reads its rows through Row. Norms, biases, untied embeddings and
// weights whose In is not a multiple of 32 stay float32.
package quant
