package blas

// Register tile and cache blocks of the pure-Go path.
const (
	goMR = 2
	goNR = 4
	goMC = 128
	goKC = 256
	goNC = 1024
)

var gemmKernelGo = gemmKernel{mr: goMR, nr: goNR, mc: goMC, kc: goKC, nc: goNC, micro: microGo2x4, packT: packTGo}

// microRef is the plain reference twin of every micro-kernel: C[0:mr,
// 0:nr] += Ã·B̃ for packed panels Ã (k×mr) and B̃ (k×nr), or = when !add.
func microRef(mr, nr, k int, a, b, c []float32, ldc int, add bool) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[p*mr+i] * b[p*nr+j]
			}
			if add {
				s += c[i*ldc+j]
			}
			c[i*ldc+j] = s
		}
	}
}

// microGo2x4 is the pure-Go 2×4 micro-kernel: eight accumulators, two
// values of Ã and four of B̃ fit amd64's sixteen SSE registers without
// spilling (a 4×4 tile spills on every step).
func microGo2x4(k int, a, b, c []float32, ldc int, add bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	a = a[:k*goMR]
	b = b[:k*goNR]
	for len(a) >= goMR && len(b) >= goNR {
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		a, b = a[goMR:], b[goNR:]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	r0 := c[0:goNR:goNR]
	r1 := c[ldc : ldc+goNR : ldc+goNR]
	if add {
		c00, c01, c02, c03 = c00+r0[0], c01+r0[1], c02+r0[2], c03+r0[3]
		c10, c11, c12, c13 = c10+r1[0], c11+r1[1], c12+r1[2], c13+r1[3]
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
}
