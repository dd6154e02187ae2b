package blas

import "math"

// Float32 exp and erf/erfc used by the vector kernels. Both are pure Go,
// written so each element costs a handful of multiply-adds and no
// branches beyond range clamps; tests hold them to 1e-6 relative error
// against the float64 math package.

const (
	log2e = 1.44269504088896340736 // 1/ln 2
	// ln2Hi + ln2Lo = ln 2; ln2Hi has few enough mantissa bits that
	// n·ln2Hi is exact for |n| < 2^9 (Cody–Waite reduction).
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4
	// expMax is the largest x with finite expf(x); expMin the smallest
	// with a non-zero (subnormal) result.
	expMax = 88.7228390
	expMin = -103.972084
	// f32Bias and f32MantBits describe the float32 exponent field.
	f32Bias     = 127
	f32MantBits = 23
	// minNormExp is the smallest unbiased exponent of a normal float32.
	minNormExp = -126
)

// Coefficients 1/k! of the degree-7 polynomial of e^r on |r| ≤ ln2/2
// (truncation error < 6e-9 relative).
const (
	expC2 = 1.0 / 2
	expC3 = 1.0 / 6
	expC4 = 1.0 / 24
	expC5 = 1.0 / 120
	expC6 = 1.0 / 720
	expC7 = 1.0 / 5040
	// roundMagic is 1.5·2^23: adding and subtracting it rounds a float32
	// of magnitude < 2^22 to the nearest integer, and the low mantissa
	// bits of the sum hold that integer.
	roundMagic = 12582912
)

// expf returns e^x in float32 (≤ 3 ulp; 0 below expMin, +Inf above
// expMax, NaN for NaN).
func expf(x float32) float32 {
	if !(x >= expMin) {
		if x != x {
			return x
		}
		return 0
	}
	if x > expMax {
		return float32(math.Inf(1))
	}
	t := x*log2e + roundMagic
	n := t - roundMagic
	r := x - n*ln2Hi - n*ln2Lo
	p := ((((((expC7*r+expC6)*r+expC5)*r+expC4)*r+expC3)*r+expC2)*r+1)*r + 1
	e := int32(math.Float32bits(t)) - int32(math.Float32bits(roundMagic))
	if e < minNormExp || e > f32Bias {
		return ldexpf(p, int(e))
	}
	return p * math.Float32frombits(uint32(e+f32Bias)<<f32MantBits)
}

// ldexpf returns p·2^e for p in [0.5, 2] and e from expf's range, where
// 2^e alone would not be a normal float32.
func ldexpf(p float32, e int) float32 {
	if e < minNormExp {
		// Scale in two steps so the intermediate stays normal.
		p *= math.Float32frombits(uint32(minNormExp+f32Bias) << f32MantBits)
		e -= minNormExp
	}
	if e > f32Bias {
		p *= 2
		e--
	}
	return p * math.Float32frombits(uint32(e+f32Bias)<<f32MantBits)
}

// sigmoidf returns 1/(1+e^-x) without overflow.
func sigmoidf(x float32) float32 { return 1 / (1 + expf(-x)) }

// erf/erfc tables. On |z| < erfSplit erf(z) = z·P(z²) with P the
// Maclaurin series (degree erfSeriesTerms-1 in z², error < 1e-9 at the
// split). On [erfSplit, erfcZero) erfc(z) = e^{-z²}·R(z) where the smooth
// R(z) = e^{z²}·erfc(z) is a degree-erfcDegree Taylor polynomial around the
// midpoint of each erfcStep-wide interval; its coefficients come once from
// the recurrence R' = 2zR − 2/√π, R^(n+1) = 2z·R^(n) + 2n·R^(n−1). Beyond
// erfcZero erfc is below 2e-17 and is returned as 0.
const (
	erfSplit       = 1.0
	erfcZero       = 6.0
	erfcStep       = 0.625
	erfcIntervals  = int((erfcZero - erfSplit) / erfcStep)
	erfcDegree     = 12
	erfSeriesTerms = 12
)

type erfTables struct {
	series [erfSeriesTerms]float32                // erf(z) = z·Σ series[n]·z^(2n)
	r      [erfcIntervals][erfcDegree + 1]float32 // R(c+t) = Σ r[i][n]·t^n
	rT     [erfcDegree + 1][erfcIntervals]float32 // r transposed: one ymm per degree
}

// The assembly GELU selects an interval's coefficient with one VPERMPS
// over an 8-lane register, and hard-codes the series length and degree.
const (
	_ = uint(8 - erfcIntervals)
	_ = uint(erfcIntervals - 8)
	_ = uint(12 - erfSeriesTerms)
	_ = uint(erfSeriesTerms - 12)
	_ = uint(12 - erfcDegree)
	_ = uint(erfcDegree - 12)
)

// erfTab is computed once at initialisation and only read afterwards.
var erfTab = newErfTables()

func newErfTables() *erfTables {
	t := &erfTables{}
	twoOverSqrtPi := 2 / math.Sqrt(math.Pi)
	fact := 1.0
	for n := 0; n < erfSeriesTerms; n++ {
		if n > 0 {
			fact *= float64(n)
		}
		sign := 1.0
		if n%2 == 1 {
			sign = -1
		}
		t.series[n] = float32(twoOverSqrtPi * sign / (fact * float64(2*n+1)))
	}
	for i := range t.r {
		c := erfSplit + (float64(i)+0.5)*erfcStep
		var d [erfcDegree + 1]float64 // d[n] = R^(n)(c)
		d[0] = math.Erfc(c) * math.Exp(c*c)
		d[1] = 2*c*d[0] - twoOverSqrtPi
		for n := 1; n < erfcDegree; n++ {
			d[n+1] = 2*c*d[n] + 2*float64(n)*d[n-1]
		}
		nfact := 1.0
		for n := range d {
			if n > 0 {
				nfact *= float64(n)
			}
			t.r[i][n] = float32(d[n] / nfact)
			t.rT[n][i] = t.r[i][n]
		}
	}
	return t
}

// erfcPos returns erfc(z) for z ≥ 0 with small relative error.
func erfcPos(z float32) float32 { return erfcPosSq(z, float64(z)*float64(z)) }

// erfcPosSq is erfcPos given z² to float64 precision: callers that scaled
// z from another value (GELU's x/√2) pass the unrounded square, because
// erfc's condition number 2z² would otherwise amplify the rounding of z.
func erfcPosSq(z float32, z2 float64) float32 {
	if z < erfSplit {
		return 1 - erfSmall(z)
	}
	if !(z < erfcZero) {
		if z != z {
			return z // NaN
		}
		return 0
	}
	i := int((z - erfSplit) / erfcStep)
	t := z - (erfSplit + (float32(i)+0.5)*erfcStep)
	c := &erfTab.r[i]
	p := c[erfcDegree]
	for n := erfcDegree - 1; n >= 0; n-- {
		p = p*t + c[n]
	}
	// e^{-z²} with z² split into a float32 hi and a small lo so rounding
	// z² costs no accuracy: e^{-hi-lo} ≈ e^{-hi}·(1 − lo).
	hi := float32(z2)
	lo := float32(z2 - float64(hi))
	return p * expf(-hi) * (1 - lo)
}

// erfSmall returns erf(z) for |z| < erfSplit.
func erfSmall(z float32) float32 {
	z2 := z * z
	s := &erfTab.series
	p := s[erfSeriesTerms-1]
	for n := erfSeriesTerms - 2; n >= 0; n-- {
		p = p*z2 + s[n]
	}
	return z * p
}

// erff returns erf(z) in float32.
func erff(z float32) float32 {
	a := z
	if a < 0 {
		a = -a
	}
	if a < erfSplit {
		return erfSmall(z)
	}
	if z != z {
		return z
	}
	r := 1 - erfcPos(a)
	if z < 0 {
		return -r
	}
	return r
}

// erfcf returns erfc(z) = 1 − erf(z) in float32, accurate in relative
// terms for z > 0 too.
func erfcf(z float32) float32 {
	if z != z {
		return z
	}
	if z >= 0 {
		return erfcPos(z)
	}
	return 2 - erfcPos(-z)
}
