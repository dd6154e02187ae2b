package vision

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // register GIF with image.Decode
	_ "image/jpeg" // register JPEG with image.Decode
	_ "image/png"  // register PNG with image.Decode
	"io"

	_ "golang.org/x/image/webp" // register WebP with image.Decode

	"github.com/fovea-ml/fovea/internal/fsx"
)

// Decoding limits. MaxImagePixels equals Pillow's default
// Image.MAX_IMAGE_PIXELS (1024*1024*1024/4/3); Pillow only warns above it and
// refuses at twice that, Fovea refuses above it. MaxImageSide bounds either
// side on its own so that a 1-pixel-high strip cannot demand a huge resize
// buffer.
const (
	MaxImagePixels = 89_478_485
	MaxImageSide   = 1 << 16
)

// Channel counts and 8-bit constants used by the raster helpers.
const (
	rgbChannels = 3
	maxUint8    = 255
	maxUint16   = 0xffff
	// shift16To8 keeps the most significant byte of a 16-bit sample, as
	// Pillow's "RGB;16B"/"RGBA;16B" unpackers do.
	shift16To8 = 8
)

// ErrImageTooLarge is wrapped by DecodeImage when the header announces more
// pixels (or a longer side) than the limits allow: a decompression bomb.
var ErrImageTooLarge = errors.New("image exceeds the decoding limits")

// RGBImage is an 8-bit RGB raster: row-major, channels interleaved
// (Pix[(y*Width+x)*3+c]), i.e. what Pillow's mode "RGB" holds and what
// numpy.asarray(pil_image) returns as [H, W, 3] uint8.
type RGBImage struct {
	Width, Height int
	Pix           []uint8
}

// NewRGBImage returns a black width×height image.
func NewRGBImage(width, height int) *RGBImage {
	return &RGBImage{Width: width, Height: height, Pix: make([]uint8, width*height*rgbChannels)}
}

// Clone returns a deep copy.
func (m *RGBImage) Clone() *RGBImage {
	return &RGBImage{Width: m.Width, Height: m.Height, Pix: append([]uint8(nil), m.Pix...)}
}

// At returns channel c of pixel (x, y).
func (m *RGBImage) At(x, y, c int) uint8 { return m.Pix[(y*m.Width+x)*rgbChannels+c] }

// DecodeImage decodes a PNG, JPEG, GIF (first frame) or WebP image from r.
// name is used only in error messages (a file name or URL). The header is
// read first with image.DecodeConfig and images above MaxImagePixels or
// MaxImageSide are refused (ErrImageTooLarge) before any pixel is decoded.
func DecodeImage(r io.Reader, name string) (image.Image, error) {
	// Everything DecodeConfig consumes (including bufio read-ahead) is kept in
	// hdr and replayed in front of the rest of the stream.
	var hdr bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(r, &hdr))
	if err != nil {
		return nil, fmt.Errorf("vision: image %q: reading header: %w", name, err)
	}
	if err := checkImageLimits(cfg.Width, cfg.Height); err != nil {
		return nil, fmt.Errorf("vision: image %q (%s): %w", name, format, err)
	}
	img, _, err := image.Decode(io.MultiReader(&hdr, r))
	if err != nil {
		return nil, fmt.Errorf("vision: image %q (%s, %dx%d): decoding pixels: %w", name, format, cfg.Width, cfg.Height, err)
	}
	return img, nil
}

// LoadImage opens and decodes the image file at path (see DecodeImage).
func LoadImage(path string) (image.Image, error) {
	f, err := fsx.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vision: open image: %w", err)
	}
	defer f.Close()
	return DecodeImage(f, path)
}

// checkImageLimits refuses empty images and decompression bombs.
func checkImageLimits(width, height int) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("invalid dimensions %dx%d", width, height)
	}
	if width > MaxImageSide || height > MaxImageSide {
		return fmt.Errorf("%w: %dx%d has a side above MaxImageSide=%d", ErrImageTooLarge, width, height, MaxImageSide)
	}
	if int64(width)*int64(height) > MaxImagePixels {
		return fmt.Errorf("%w: %dx%d = %d pixels, above MaxImagePixels=%d (possible decompression bomb)",
			ErrImageTooLarge, width, height, int64(width)*int64(height), MaxImagePixels)
	}
	return nil
}

// ToRGB converts any image to 8-bit RGB the way Pillow's convert("RGB")
// does for the corresponding Pillow mode:
//
//   - alpha is DROPPED, not composited (rgba2rgb / la2rgb): a transparent
//     pixel keeps its stored colour. Go's premultiplied types (image.RGBA,
//     RGBA64 with alpha < max) are first un-premultiplied.
//   - gray is replicated into R=G=B (l2rgb).
//   - palette images look their colour up in the palette (p2rgb).
//   - 16-bit RGB(A) keeps the high byte (Pillow's "RGB;16B" unpacker).
//   - 16-bit gray is Pillow mode "I", whose conversion clips the VALUE to
//     [0, 255] (i2rgb) rather than scaling it; this is reproduced.
//   - YCbCr (JPEG, lossy WebP) and CMYK use Go's colour conversion; libjpeg
//     and libwebp use fancy chroma upsampling and different rounding, so
//     lossy formats match Pillow only to about ±2 levels, not exactly.
//   - GIF: Go's decoder replaces the transparent palette entry by (0,0,0),
//     where Pillow keeps that entry's stored colour.
func ToRGB(img image.Image) *RGBImage {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := NewRGBImage(w, h)
	pix := out.Pix
	switch src := img.(type) {
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X)*4:]
			for x := 0; x < w; x++ {
				o := (y*w + x) * rgbChannels
				pix[o], pix[o+1], pix[o+2] = row[x*4], row[x*4+1], row[x*4+2]
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X)*4:]
			for x := 0; x < w; x++ {
				o := (y*w + x) * rgbChannels
				pix[o], pix[o+1], pix[o+2] = unpremultiply8(row[x*4], row[x*4+1], row[x*4+2], row[x*4+3])
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X):]
			for x := 0; x < w; x++ {
				o := (y*w + x) * rgbChannels
				v := row[x]
				pix[o], pix[o+1], pix[o+2] = v, v, v
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := src.Gray16At(x+b.Min.X, y+b.Min.Y).Y
				if v > maxUint8 {
					v = maxUint8 // Pillow i2rgb clips the value
				}
				o := (y*w + x) * rgbChannels
				pix[o], pix[o+1], pix[o+2] = uint8(v), uint8(v), uint8(v)
			}
		}
	case *image.Paletted:
		lut := make([][rgbChannels]uint8, len(src.Palette))
		for i, c := range src.Palette {
			lut[i] = colorToRGB(c)
		}
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X):]
			for x := 0; x < w; x++ {
				o := (y*w + x) * rgbChannels
				var c [rgbChannels]uint8
				if int(row[x]) < len(lut) {
					c = lut[row[x]]
				}
				pix[o], pix[o+1], pix[o+2] = c[0], c[1], c[2]
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := colorToRGB(img.At(x+b.Min.X, y+b.Min.Y))
				o := (y*w + x) * rgbChannels
				pix[o], pix[o+1], pix[o+2] = c[0], c[1], c[2]
			}
		}
	}
	return out
}

// colorToRGB drops alpha from one colour (straight, not composited). A
// nil colour (a palette entry or a hand-written At that returns none) is
// black, as a palette index past the palette is.
func colorToRGB(c color.Color) [rgbChannels]uint8 {
	switch v := c.(type) {
	case nil:
		return [rgbChannels]uint8{}
	case color.NRGBA:
		return [rgbChannels]uint8{v.R, v.G, v.B}
	case color.RGBA:
		r, g, b := unpremultiply8(v.R, v.G, v.B, v.A)
		return [rgbChannels]uint8{r, g, b}
	case color.Gray:
		return [rgbChannels]uint8{v.Y, v.Y, v.Y}
	case color.NRGBA64:
		return [rgbChannels]uint8{uint8(v.R >> shift16To8), uint8(v.G >> shift16To8), uint8(v.B >> shift16To8)}
	}
	r, g, b, a := c.RGBA() // premultiplied, 16 bit
	if a != 0 && a != maxUint16 {
		r, g, b = r*maxUint16/a, g*maxUint16/a, b*maxUint16/a
	}
	return [rgbChannels]uint8{uint8(r >> shift16To8), uint8(g >> shift16To8), uint8(b >> shift16To8)}
}

// unpremultiply8 turns a premultiplied 8-bit colour into straight RGB.
func unpremultiply8(r, g, b, a uint8) (uint8, uint8, uint8) {
	if a == maxUint8 || a == 0 {
		return r, g, b
	}
	un := func(v uint8) uint8 {
		x := uint32(v) * maxUint8 / uint32(a)
		if x > maxUint8 {
			x = maxUint8
		}
		return uint8(x)
	}
	return un(r), un(g), un(b)
}
