package quant

import (
	"fmt"
	"os"
	"strings"
)

// Level names an instruction-set tier of the Q8_0 kernels.
type Level int

const (
	// LevelGo is the portable pure-Go kernel.
	LevelGo Level = iota
	// LevelAVX2 uses VPMADDUBSW/VPMADDWD with the sign trick (256-bit).
	LevelAVX2
	// LevelVNNI uses AVX-512 VNNI VPDPBUSD on offset-binary weights (512-bit).
	LevelVNNI
)

// EnvLevel names the environment variable that caps the kernel level
// chosen at start-up: "go", "avx2" or "vnni". Unknown values are ignored.
const EnvLevel = "FOVEA_QUANT_LEVEL"

func (l Level) String() string {
	switch l {
	case LevelGo:
		return "go"
	case LevelAVX2:
		return "avx2"
	case LevelVNNI:
		return "vnni"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// kernel is the set of routines of one level: rows computes y[r] for
// weight rows [r0, r1) against activation row i; quant quantizes one
// activation row x [In] into row i of a; dequant expands weight rows
// [r0, r1) to float32 dst [r1−r0, In]; fakeQuant writes the Q8_0-rounded
// activations q·d of x to dst.
type kernel struct {
	level     Level
	rows      func(q *Q8Matrix, r0, r1 int, a *acts, i int, y []float32)
	quant     func(x []float32, a *acts, i int)
	dequant   func(q *Q8Matrix, r0, r1 int, dst []float32)
	fakeQuant func(dst, x []float32)
}

// SupportedLevels lists the kernel levels this CPU and build can run,
// slowest first.
func SupportedLevels() []Level {
	out := []Level{LevelGo}
	if hasAVX2() {
		out = append(out, LevelAVX2)
	}
	if hasVNNI() {
		out = append(out, LevelVNNI)
	}
	return out
}

// DefaultLevel is the kernel level MatMulT uses (the best supported one,
// capped by EnvLevel).
func DefaultLevel() Level { return defaultKernel.level }

// defaultKernel is chosen once at initialisation and never changed.
var defaultKernel = chooseKernel()

func chooseKernel() *kernel {
	levels := SupportedLevels()
	l := levels[len(levels)-1]
	if v, ok := os.LookupEnv(EnvLevel); ok {
		for _, c := range levels {
			if strings.EqualFold(strings.TrimSpace(v), c.String()) && c < l {
				l = c
			}
		}
	}
	return kernelFor(l)
}

// kernelFor returns the kernel of a supported level.
func kernelFor(l Level) *kernel {
	switch l {
	case LevelAVX2:
		return &kernel{level: l, rows: rowsAVX2, quant: quantRowAVX2, dequant: dequantGo, fakeQuant: fakeQuantGo}
	case LevelVNNI:
		return &kernel{level: l, rows: rowsVNNI, quant: quantRowVNNI, dequant: dequantVNNI, fakeQuant: fakeQuantVNNI}
	}
	return &kernel{level: LevelGo, rows: rowsGo, quant: quantRowGo, dequant: dequantGo, fakeQuant: fakeQuantGo}
}
