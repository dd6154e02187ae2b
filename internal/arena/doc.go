// Package arena hands out the long-lived, aligned buffers that prepared
// model weights live in (packed float32 panels, Q8_0 blocks).
//
// Why: decoding one token streams every weight from memory once, so the
// decode step is bound by memory bandwidth. Two things about where the
// weights sit decide how much of it a kernel gets:
//
//   - Page size. With 4 KiB pages the hardware prefetcher restarts at
//     every page boundary and each page costs a TLB walk. On Linux the
//     arena asks for transparent huge pages (madvise MADV_HUGEPAGE on a
//     2 MiB-aligned range, before the memory is first touched), which
//     measured +10–25% streaming bandwidth on the 2-core development
//     machines (single-thread 9.9 → 12.2 GB/s). Other systems, or a
//     kernel with THP disabled, get ordinary pages: only speed differs.
//   - Order. Weights carved one after another in the order the forward
//     pass reads them form one long stream, so a kernel's software
//     prefetch that runs past the end of one matrix already pulls in the
//     next.
//
// An Arena is a bump allocator over one Go byte slice: the garbage
// collector owns it (no unmapping, no finalizers), and every slice handed
// out keeps the whole block alive. Slices start at Align-byte (cache
// line) boundaries. Asking for more than is left falls back to a fresh
// aligned allocation outside the block, so a wrong size estimate costs
// speed, never correctness. An Arena is not safe for concurrent use while
// allocating; the slices it returned are ordinary memory.
package arena
