package vision

import (
	"errors"
	"fmt"
	"image"
	"math"
	"reflect"

	"github.com/fovea-ml/fovea/internal/tensor"
)

// isNilImage reports a nil image, including a typed nil such as
// (*image.RGBA)(nil), whose Bounds would panic.
func isNilImage(img image.Image) bool {
	if img == nil {
		return true
	}
	v := reflect.ValueOf(img)
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// errNilImage is returned for nil and typed-nil images.
var errNilImage = errors.New("nil image")

// checkPixelData checks that t's data holds exactly the values its shape
// names and that every value is finite (a NaN pixel would otherwise turn
// whole attention rows into "fully masked" ones and give plausible but
// wrong output). what names the input in errors.
func checkPixelData(what string, t *tensor.Tensor) error {
	n := 1
	for _, d := range t.Shape {
		if d < 0 || (d > 0 && n > math.MaxInt/d) {
			return fmt.Errorf("vision: %s: shape %v overflows", what, t.Shape)
		}
		n *= d
	}
	if len(t.Data) != n {
		return fmt.Errorf("vision: %s: shape %v needs %d values, the tensor holds %d", what, t.Shape, n, len(t.Data))
	}
	for i, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("vision: %s: value %d is %v (pixel values must be finite)", what, i, v)
		}
	}
	return nil
}

// CheckPixelValues is CheckPixels on a whole tensor: the shape, a data
// length that matches it, and finite values. Run it before Forward on
// input from outside.
func (m *CLIPVision) CheckPixelValues(t *Tensor) error {
	if t == nil {
		return errors.New("vision: clip: no pixel values")
	}
	if err := m.CheckPixels(t.Shape); err != nil {
		return err
	}
	return checkPixelData("clip pixel_values", t)
}

// checkImageBuffer refuses an image of a standard type whose pixel buffer
// is too short for its Rect and Stride (a hand-built &image.RGBA{Rect: r}
// with no Pix), which ToRGB's fast paths and At would index out of range.
func checkImageBuffer(img image.Image) error {
	need := func(pixLen, stride, bpp int, r image.Rectangle) error {
		if r.Empty() {
			return nil
		}
		if stride < r.Dx()*bpp || pixLen < (r.Dy()-1)*stride+r.Dx()*bpp {
			return fmt.Errorf("malformed %T: %d pixel bytes with stride %d for a %dx%d image", img, pixLen, stride, r.Dx(), r.Dy())
		}
		return nil
	}
	switch m := img.(type) {
	case *image.RGBA:
		return need(len(m.Pix), m.Stride, 4, m.Rect)
	case *image.NRGBA:
		return need(len(m.Pix), m.Stride, 4, m.Rect)
	case *image.RGBA64:
		return need(len(m.Pix), m.Stride, 8, m.Rect)
	case *image.NRGBA64:
		return need(len(m.Pix), m.Stride, 8, m.Rect)
	case *image.Gray:
		return need(len(m.Pix), m.Stride, 1, m.Rect)
	case *image.Gray16:
		return need(len(m.Pix), m.Stride, 2, m.Rect)
	case *image.Alpha:
		return need(len(m.Pix), m.Stride, 1, m.Rect)
	case *image.CMYK:
		return need(len(m.Pix), m.Stride, 4, m.Rect)
	case *image.Paletted:
		return need(len(m.Pix), m.Stride, 1, m.Rect)
	case *image.YCbCr:
		if m.Rect.Empty() {
			return nil
		}
		if err := need(len(m.Y), m.YStride, 1, m.Rect); err != nil {
			return err
		}
		last := m.COffset(m.Rect.Max.X-1, m.Rect.Max.Y-1)
		if m.COffset(m.Rect.Min.X, m.Rect.Min.Y) < 0 || last < 0 || last >= len(m.Cb) || last >= len(m.Cr) {
			return fmt.Errorf("malformed %T: chroma planes of %d and %d bytes for a %dx%d image", img, len(m.Cb), len(m.Cr), m.Rect.Dx(), m.Rect.Dy())
		}
	}
	return nil
}

// checkInputImage is the common check of the preprocessors: not nil,
// within the decoding limits, and a consistent buffer.
func checkInputImage(img image.Image) error {
	if isNilImage(img) {
		return errNilImage
	}
	b := img.Bounds()
	if err := checkImageLimits(b.Dx(), b.Dy()); err != nil {
		return err
	}
	return checkImageBuffer(img)
}
