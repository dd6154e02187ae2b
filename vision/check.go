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
