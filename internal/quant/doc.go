// Package quant stores Linear weights in Q8_0 form and multiplies
// activations with them in int8, the memory-bound decode path of the
// decoder (backend.Eager.Prepared). The float32 small-m product that
// backend.Eager.Linear uses for decode steps is internal/blas.GemvT.
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
// For m ≤ maxInt8M (= blas.SmallM, decode) the block sums are exact int32
// dot products. Kernels, chosen once at start-up from the CPU
// (golang.org/x/sys/cpu; FOVEA_QUANT_LEVEL=go|avx2|vnni caps it):
//
//   - vnni (AVX-512 F+BW+VL+VNNI): VPDPBUSD multiplies unsigned by signed
//     bytes. The stored offset weights are the unsigned operand and xq the
//     signed one; Σ (q+128)·x = Σ q·x + 128·Σx, so each int32 lane starts
//     at negc = −128 × (sum of the four activation bytes it meets),
//     precomputed per activation row. Two blocks per zmm; VPERMPS spreads
//     the two row scales over the lanes. One weight row per pass, a single
//     sequential stream with PREFETCHT0 3 KiB ahead: on the 2-core Zen 4 a
//     four-row variant (activation loaded once for four strided row
//     streams) streamed 8–11 GB/s against 14–18 for one row, so rows are
//     not grouped. The activation quantizer is AVX-512 too (q8QuantVNNI,
//     ~10× the Go loop: 205 ns vs 2.0 µs for In = 576).
//   - avx2: the sign trick. VPMADDUBSW(|xq|, q·sign(xq)) cannot saturate
//     (2·127·127 < 32767); VPMADDWD with ones widens to int32. The
//     kernel is compute-bound on the 2-core AVX2 machine (its 256-bit
//     integer multiplies issue one per two cycles), so every operation
//     per block counts: |xq| is computed once per activation row (xabs),
//     the two scales of a block are multiplied 16 blocks at a time before
//     the block loop (one FMA per block, no separate multiply), and two
//     blocks go into two accumulators per step so that a block's FMA does
//     not wait on the previous one. In cache: 7.2 → 9.7 GB/s per core.
//     The activation quantizer is AVX2 too (q8QuantAVX2: the rounding of
//     quantizeBlock, exact, via trunc and a fraction test); in Go it took
//     13% of a decode step.
//   - go: portable loops (also the purego / non-amd64 build).
//
// Every kernel has a Go twin the tests compare against: rowsGo (block
// sums), quantRowGo (bit-exact: the vector quantizer rounds half away
// from zero exactly as quantizeBlock, via trunc and an exact fraction
// test), dequantGo and fakeQuantGo (bit-exact). MatMulTRef is the plain
// reference of the whole product (float64 accumulation); the vector
// kernels sum in float32 lanes, so they agree to float32 rounding.
//
// For m > maxInt8M (prefill) the same products are computed in float32:
// the activations are rounded to their Q8_0 values q·d (fakeQuant, so
// prefill and decode see the same numbers), weight rows are dequantized,
// about 2^20 values (4 MiB) at a time, into a float32 panel, and
// blas.Sgemm multiplies the panel with all m rows. Int8 arithmetic does
// not pay here: with per-block scales a VNNI step needs ~5 ops per 64
// multiply-adds against 4 per 64 for the float32 FMA kernel.
//
// # Threading and buffers
//
// Decode (m ≤ maxInt8M): the output rows are split, in tiles of 32 rows,
// into contiguous ranges, one goroutine per minParallelBytes (128 KiB) of
// weights and at most runtime.GOMAXPROCS(0), through blas.Parallel, whose
// persistent helpers make the fork-join ~1 µs (with a goroutine started
// per call the break-even was ~2 MB, which left most SmolLM2 matrices on
// one core). For 1 < m ≤ maxInt8M each goroutine streams a 32-row tile
// against every activation row, so the tile is read from memory once.
// MatMulTGroup (backend.GroupMatMul) multiplies one input by several
// matrices of the same In — the q/k/v and gate/up projections — with the
// activations quantized once and the rows of all matrices split as one
// sequence. Prefill splits the dequantization and the activation rounding
// the same way; blas.Sgemm does its own threading.
//
// QuantizeModel carves every matrix from one internal/arena block (huge
// pages where the OS allows) in the order listed, which is the order the
// forward pass reads them, and quantizes them in parallel. The quantized
// activations and the float32 panels come from sync.Pools in a scratch
// value that all matrices of one QuantizeModel call share (QuantizeQ8_0
// gives each matrix its own), so steady-state calls do not allocate.
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
