// Package blas holds Fovea's dense float32 kernels: a packed, cache-blocked,
// multi-threaded sgemm with Go-assembly micro-kernels, gemv/dot/axpy for the
// decode path, the vector kernels of transformer layers (softmax, RMSNorm,
// LayerNorm, SiLU, GELU and friends), and a hook that gives gorgonia's
// tensor engine the same sgemm. Everything is pure Go plus Plan 9 assembly;
// no cgo.
//
// # Conventions
//
// Matrices are row-major float32 slices with a leading dimension (stride,
// in elements) ≥ the row length, as in CBLAS row-major:
//
//	Sgemm:  C[m×n] = alpha·op(A)[m×k]·op(B)[k×n] + beta·C
//	Sgemv:  y = alpha·op(A)·x + beta·y,  A [m×n]
//
// op(A) = Aᵀ when transA (A then stored k×m). beta == 0 overwrites the
// output without reading it (NaN in C does not leak). Each fast routine has
// a plain reference twin (SgemmRef, SgemvRef, SdotRef, SaxpyRef,
// SoftmaxRef, …) that the tests use as the oracle. A slice too short for
// its shape and stride is a programmer error and panics with the shapes.
//
// # Dispatch
//
// Level names an instruction-set tier: LevelGo (portable), LevelAVX2
// (AVX2+FMA3) and LevelAVX512 (AVX-512F). golang.org/x/sys/cpu picks the
// best supported level once at start-up; the environment variable
// FOVEA_BLAS_LEVEL=go|avx2|avx512 caps it. Default returns that kernel set
// (the package-level functions use it); ForLevel(l) returns another
// supported one and WithThreads bounds its goroutines, which is how the
// tests run every level the CPU supports on the same cases. An Impl is
// immutable. Building with -tags purego, or for a non-amd64 GOARCH, leaves
// only LevelGo.
//
// # sgemm
//
// The BLIS five-loop scheme. For each nc-wide column block of C and each
// kc-deep slice of the sum, op(B) is packed into kc×nr micro-panels (row p
// of a panel is op(B)[p, j:j+nr], zero-padded at the right edge); for each
// mc-tall row block op(A) is packed into kc×mr micro-panels (row p is
// alpha·op(A)[i:i+mr, p], so alpha costs nothing in the inner loop). The
// micro-kernel then adds Ã·B̃ for one mr×nr register tile of C:
//
//	AVX-512  12×32  24 zmm accumulators, 2 zmm of B̃ + 12 broadcasts of Ã per k
//	AVX2      6×16  12 ymm accumulators, 2 ymm of B̃ +  6 broadcasts of Ã per k
//	Go        2×4    8 scalar accumulators (no spills in 16 SSE registers)
//
// Blocks (kernels_amd64.go, kernel_go.go): kc = 192 keeps one B̃
// micro-panel (kc·nr·4 = 24 KiB for AVX-512) in the 32 KiB L1 while Ã
// (mc·kc·4 = 144 KiB) streams from the 1 MiB L2 with software prefetch; the
// kc×nc block of B̃ sits in L3. Partial tiles at the bottom/right edges are
// computed into a scratch tile and added to C, so the assembly never
// handles ragged shapes. Packing the transposed cases (A not transposed,
// B transposed — the Y = X·Wᵀ of every linear layer) goes through 8×8,
// 6×8 (one AVX2 tile height: Ã panels of 6 rows need no scalar rows; +7%
// single-thread sgemm on prefill shapes) and 4×8 AVX register transposes
// (packTAsm, twin packTGo). Panels are 64-byte
// aligned. With beta == 0 the first kc-slice stores into C without reading
// it and later slices accumulate; any other beta ≠ 1 scales C once first.
//
// Pre-packed B: PackB packs a whole op(B) once into panels of k×nr that
// span the full depth (so any kc-slice of a panel is contiguous) for one
// level; PackBInto writes them to a caller's buffer (PrepareF32 carves
// every weight of a model from one huge-page arena, internal/arena, in
// the order the forward pass reads them). SgemmPacked multiplies by it
// without repacking, with a single fork-join per call: each goroutine
// owns whole column panels or whole row tiles of C (splitWork picks
// whichever leaves the busiest goroutine fewer tiles; columns on a tie,
// since then no one owns a ragged row tile) and runs column block → pc →
// ic (packing its own Ã) → jr → ir. SgemmPackedGroup does the same for
// one A against several packed B's of the same depth (the q/k/v or
// gate/up projections of one activation): each block of A is packed once
// for all of them, and their panels are split among the goroutines as one
// sequence. PackedMatrix wraps a Linear weight W [Out, In] for Y = X·Wᵀ
// (backend.PreparedMatrix: Dims, MatMulT, Row); its panels serve every
// product and embedding lookups, so the row-major W is not retained.
//
// # Panel gemv (small m on packed weights)
//
// For m ≤ SmallM rows (a decode step) SgemmPacked and SgemmPackedGroup
// skip the register tile, which would waste mr−m of its rows, and stream
// the panels once: sgemvP<nr>M<m> (gen_asm.go gemvPanels) computes
// y[i, panel] = Σ_p x[i, p]·panel[p, :] for m ≤ 4 rows (nr = 16) or 2
// (nr = 32) per pass, the k loop unrolled into separate accumulators to
// hide the FMA latency, B̃ read by the FMAs straight from memory when
// m = 1, and a PREFETCHT0 panelPrefetch (512) bytes ahead. The panels of
// all products form one contiguous stream split into one range per
// goroutine, with a goroutine per minGemvBytesPerThread (128 KiB) of
// weights: the product is memory-bound, so the split follows bytes, not
// flops. Measured on the 2-core AVX2 machine over the 537 MB of
// SmolLM2-135M weights: 21.4 GB/s, the same as a plain 2-thread read of
// the same memory (21.4–22.5); the prefetch distance was swept (256 B to
// 8 KiB, T0/T1/NTA): 512 B won, 4 KiB lost ~20%. gemvPanelsGo is the twin
// (and the LevelGo path).
//
// # GemvT (small-m Y = X·Wᵀ)
//
// GemvT is the float32 decode-step product on a row-major W [Out, In],
// y [m, Out] = x [m, In]·Wᵀ for m ≤ SmallM: backend.Eager.Linear uses it
// for weights that were not prepared (fovea's F32Compact load). Whole
// 16-row tiles of W are split across goroutines (one per
// minGemvBytesPerThread of W); each tile is multiplied with all m rows while in cache
// by the level's row-dot kernel (sdotRowsAVX2: one sequential stream per
// weight row, eight ymm accumulators; sdotRowsGo at LevelGo). The AVX-512
// level uses the same ymm kernel: a zmm version (four zmm accumulators)
// was benchmarked inside GemvT, alternating runs, and lost where decode
// actually runs, with W streamed from DRAM (49152×576: m=1 ~26 vs ~29
// GB/s, m=4 ~20 vs ~24 GB/s), winning only ~10% at m = 1 on in-cache
// 576×1536 / 1536×576 and tying at m = 4. GemvTRef (float64 sums) is the
// test oracle.
//
// # Threading
//
// parallel (exported as Parallel for package quant and backend) runs
// f(0..n−1) with the caller taking the last share. It hands the other
// shares to a pool of GOMAXPROCS−1 persistent helper goroutines (pool.go)
// that poll for the next job for spinWait (20 µs) after each one and
// then park: a decode step is ~100 short products a few µs apart, and
// waking a parked thread per product cost a third of the bandwidth
// (13–14 GB/s against 21 GB/s with the pool on the same stream). The
// spin is bounded so that an idle or shared machine gets its cores back.
// One job uses the pool at a time; a concurrent or nested call starts
// goroutines instead, so callers never wait for one another.
//
// The caller of a fork-join runs its own share, then every share that no
// helper has claimed yet (each share is claimed by one atomic swap), and
// waits only for shares already running: on a loaded machine a helper the
// OS has descheduled delays nobody (training steps on the shared 2-core
// machine went from slower than one thread to ~1.8× it).
//
// The unpacked Sgemm splits C by rows (when m ≥ n) or by column panels
// when every goroutine gets at least two tiles. A row split
// (gemmSharedB) packs op(B) once into the caller's scratch as a PackedB,
// its panels split among the goroutines, then hands out row chunks of
// whole register tiles (gemmRowChunks, about rowChunksPerThread per
// goroutine, claimed from an atomic counter, each packing its own Ã):
// no goroutine copies B̃ for itself, and one that the OS deschedules
// holds up a chunk, not half of C. SgemmPacked's row split uses the same
// chunk loop. A column split (gemmRange) is one fork-join per call, each
// goroutine packing its own columns of op(B) and its own copy of op(A)
// (the smaller one, since the split follows the longer side of C). Otherwise B̃ is packed once per
// (jc, pc) block, shared by all goroutines, which then split the rows of
// C in whole register tiles, each packing its own Ã. The depth is cut
// into equal k-slices (depthStep: one slice up to 1.5·kc), so k = 256 is
// one slice rather than 192 + 64 — in every driver (gemmRange, the shared
// B̃ split, the row chunks and the pre-packed SgemmPacked), so a product's
// rounding does not depend on which driver the thread count picks. At most runtime.GOMAXPROCS(0) goroutines, and fewer
// for small problems (one per minFlopsPerThread of work). m == 1 is
// routed to Sgemv.
//
// # gemv, dot, axpy
//
// Sgemv without transpose (the decode hot path y = W·x, W [out, in]) runs
// four rows of W against one pass over x (sdot4AVX2: 8 ymm accumulators),
// rows split across goroutines for matrices above minGemvThreadElems. With
// transpose it is a sequence of axpy over rows, columns split across
// goroutines. These loops are memory-bound, so the AVX-512 level reuses
// the AVX2 code (on this Zen 4 CPU 512-bit ops are double-pumped 256-bit).
// The assembly handles whole vectors; Go finishes the tails.
//
// # Vector kernels
//
// Softmax (stable, max-subtracted; a row of −Inf gives zeros, not NaN),
// RMSNorm, LayerNorm (two-pass variance), SiLU, GELU (exact, via erfc),
// GELUTanh (computed as x·σ(2u), no cancellation), QuickGELU, RotateHalf
// (RoPE on one head, HF's rotate_half convention; products and sums
// rounded separately on every level, so levels agree bit for bit), plus
// the Max/ExpSub/Scale building blocks of streaming softmax, and AdamW
// (one optimizer update over w, g, m, v: AVX2 on whole vectors with the
// same float32 operations in the same order as its Go twin adamWGo;
// AdamWRef is the float64 oracle). The exp-heavy
// parts (ExpSub inside Softmax, x·σ(kx) for SiLU/QuickGELU, the tanh GELU,
// the exact GELU and SiLUGrad, SwiGLU's backward) have AVX2+FMA assembly
// on 8 lanes (also used at the AVX-512 level) with Go twins (expSubGo,
// sigmoidMulGo, geluTanhGo, geluGo, siluGradGo) for the tails and for
// LevelGo; SiLUGrad rounds every step as its twin does, so it equals
// ExpSub plus the twin's loop bit for bit. Max, and the two passes of the
// norms (Σx, Σx², Σ(x−mean)², then dst = x·s·w or (x−c)·s·w + b) are
// AVX2 assembly with four independent accumulators (twins sum,
// sumSquares, sumSqDevGo, maxGo, rmsApplyGo, lnApplyGo); Max ignores
// NaN lanes (VMAXPS keeps the accumulator). Scale is plain Go.
//
// exp (mathf.go, exp8 in gen_asm.go): Cody–Waite reduction by ln 2 and a
// degree-7 polynomial, 2^n added to the exponent bits (≤ 1.2e-7 relative).
// The assembly clamps its input to [−86, 88] so 2^n stays a normal float
// and returns exactly 0 below −86 (masked softmax entries stay 0). erf:
// Maclaurin series below 1; above, erfc = e^{−z²}·R(z) with R a degree-12
// Taylor polynomial on each of 8 intervals of [1, 6), coefficients derived
// at start-up from R' = 2zR − 2/√π; the assembly picks each lane's
// coefficient with one VPERMPS. GELU gets z² = x²/2 exactly (FMA / float64
// split) because erfc's condition number 2z² would otherwise amplify the
// rounding of x/√2. Tests bound exp, erf and erfc at 1e-6 relative to the
// float64 math package, and every level against the float64 reference
// twins (SoftmaxRef, GELURef, …).
//
// # Numerics
//
// Kernels sum in float32 in a different order from the references
// (register tiles, kc slices, FMA), so results differ from SgemmRef by
// rounding: the tests allow 1e-6·(k+8) absolute for inputs in [−1, 1].
//
// # gorgonia
//
// tensor.Use(blas.GorgoniaBLAS{}) routes gorgonia's Sgemm and Sgemv
// through this package; everything else falls back to the embedded gonum
// implementation. gonum's BLAS API is row-major like this one, so no
// argument swapping is needed.
//
// # State
//
// The package keeps no mutable state: the default Impl and the erf tables
// are computed during initialisation and only read afterwards. Each Impl
// (shared by its WithThreads copies) owns a sync.Pool of per-goroutine
// Ã/edge-tile packing buffers (gemmScratch), so sgemm calls do not
// allocate them; the kc×nc B̃ block of the unpacked Sgemm is still
// allocated per call. The worker pool (see Threading) is the one
// process-wide resource: threads, holding no data between jobs.
package blas
