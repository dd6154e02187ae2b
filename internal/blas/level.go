package blas

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
)

// Level is a CPU instruction-set tier a kernel set is written for.
type Level int

const (
	// LevelGo is the portable pure-Go path (blocked, not vectorised).
	LevelGo Level = iota
	// LevelAVX2 uses 256-bit AVX2 + FMA3 assembly kernels.
	LevelAVX2
	// LevelAVX512 uses 512-bit AVX-512F assembly kernels for sgemm.
	LevelAVX512
)

// EnvLevel names the environment variable that caps the level chosen at
// start-up: "go", "avx2" or "avx512". An unknown or unsupported value is
// ignored (the detected level is used).
const EnvLevel = "FOVEA_BLAS_LEVEL"

// String returns the lower-case name also accepted by EnvLevel.
func (l Level) String() string {
	switch l {
	case LevelGo:
		return "go"
	case LevelAVX2:
		return "avx2"
	case LevelAVX512:
		return "avx512"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel parses a level name as printed by Level.String.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "go", "purego":
		return LevelGo, nil
	case "avx2":
		return LevelAVX2, nil
	case "avx512", "avx-512":
		return LevelAVX512, nil
	}
	return LevelGo, fmt.Errorf("blas: unknown level %q (want go, avx2 or avx512)", s)
}

// SupportedLevels lists every level this CPU and build can run, slowest
// first. LevelGo is always present.
func SupportedLevels() []Level {
	out := []Level{LevelGo}
	if hasAVX2FMA() {
		out = append(out, LevelAVX2)
	}
	if hasAVX512() {
		out = append(out, LevelAVX512)
	}
	return out
}

// DetectedLevel is the best level this CPU and build support.
func DetectedLevel() Level {
	s := SupportedLevels()
	return s[len(s)-1]
}

// Impl is one kernel set bound to a level and a thread count. The zero
// value is not usable; get one from Default or ForLevel. An Impl is
// immutable and safe for concurrent use.
type Impl struct {
	level   Level
	threads int // 0: runtime.GOMAXPROCS(0) at call time
	gemm    gemmKernel
	dot     func(n int, x, y []float32) float32
	dot4    func(n int, a []float32, lda int, x []float32, out *[4]float32)
	axpy    func(n int, alpha float32, x, y []float32)
	// dotRows sets y[r] = W[r,:n]·x for r < rows (twin sdotRowsGo).
	dotRows func(rows, n int, w []float32, ldw int, x, y []float32)
	// gemvPanels multiplies m ≤ SmallM activation rows by npan
	// consecutive k×nr panels of B̃ (twin gemvPanelsGo).
	gemvPanels func(k int, x []float32, ldx, m int, pan []float32, npan int, y []float32, ldy int)
	// vector kernels (twins: expSubGo, sigmoidMulGo, geluGo, geluTanhGo)
	expSub     func(x []float32, m float32) float32
	sigmoidMul func(x []float32, k float32)
	gelu       func(x []float32)
	geluTanh   func(x []float32)
	siluGrad   func(dg, du, g, u, dy []float32) // twin siluGradGo
	// norm and reduction kernels (twins: sum, sumSquares, sumSqDevGo,
	// maxGo, rmsApplyGo, lnApplyGo)
	sum, sumSq, vmax func(x []float32) float32
	sumSqDev         func(x []float32, c float32) float32
	rmsApply         func(dst, x, w []float32, s float32)
	lnApply          func(dst, x, w, b []float32, c, s float32)
	// rotateHalf is RoPE on one head (twin rotateHalfGo).
	rotateHalf func(dst, x, cos, sin []float32)
	// adamw is one optimizer update (twin adamWGo).
	adamw func(w, g, m, v []float32, c *AdamWCoef)
	// scratch pools the sgemm packing buffers (*gemmScratch) of this
	// level; shared by WithThreads copies, safe for concurrent use.
	scratch *sync.Pool
}

// ForLevel returns the kernel set for level l, or an error when this CPU
// or build (purego, non-amd64) cannot run it.
func ForLevel(l Level) (*Impl, error) {
	ok := false
	for _, s := range SupportedLevels() {
		ok = ok || s == l
	}
	if !ok {
		return nil, fmt.Errorf("blas: level %v not supported on this CPU/build (supported: %v)", l, SupportedLevels())
	}
	im := &Impl{
		level: l, gemm: gemmKernelGo, dot: sdotGo, dot4: sdot4Go, axpy: saxpyGo, dotRows: sdotRowsGo,
		adamw:  adamWGo,
		expSub: expSubGo, sigmoidMul: sigmoidMulGo, gelu: geluGo, geluTanh: geluTanhGo, siluGrad: siluGradGo,
		sum: sum, sumSq: sumSquares, vmax: maxGo, sumSqDev: sumSqDevGo, rmsApply: rmsApplyGo, lnApply: lnApplyGo,
		rotateHalf: rotateHalfGo,
		scratch:    newScratchPool(),
	}
	im.gemvPanels = func(k int, x []float32, ldx, m int, pan []float32, npan int, y []float32, ldy int) {
		gemvPanelsGo(goNR, k, x, ldx, m, pan, npan, y, ldy)
	}
	bindAsm(im)
	return im, nil
}

// WithThreads returns a copy of im that uses at most n goroutines per call
// (n <= 0 means runtime.GOMAXPROCS(0)).
func (im *Impl) WithThreads(n int) *Impl {
	c := *im
	if n < 0 {
		n = 0
	}
	c.threads = n
	return &c
}

// Level reports the instruction-set tier of im.
func (im *Impl) Level() Level { return im.level }

func (im *Impl) maxThreads() int {
	if im.threads > 0 {
		return im.threads
	}
	return runtime.GOMAXPROCS(0)
}

// defaultImpl is chosen once at package initialisation from the CPU and
// EnvLevel and never changed afterwards.
var defaultImpl = chooseDefault()

func chooseDefault() *Impl {
	v, _ := os.LookupEnv(EnvLevel)
	im, err := ForLevel(cappedLevel(DetectedLevel(), v))
	if err != nil {
		panic(err) // unreachable: l comes from SupportedLevels
	}
	return im
}

// cappedLevel applies an EnvLevel value to the detected level: a valid
// lower level wins, anything else leaves detected unchanged.
func cappedLevel(detected Level, env string) Level {
	if want, err := ParseLevel(env); err == nil && want < detected {
		return want
	}
	return detected
}

// Default returns the kernel set the package-level functions use.
func Default() *Impl { return defaultImpl }
