package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// pngHeaderOnly writes a PNG signature and a valid IHDR chunk claiming
// width×height 8-bit RGB, followed by no pixel data.
func pngHeaderOnly(width, height uint32) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], width)
	binary.BigEndian.PutUint32(ihdr[4:], height)
	ihdr[8], ihdr[9] = 8, 2 // bit depth 8, colour type RGB
	chunk := append([]byte("IHDR"), ihdr...)
	_ = binary.Write(&buf, binary.BigEndian, uint32(len(ihdr)))
	buf.Write(chunk)
	_ = binary.Write(&buf, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return buf.Bytes()
}

func TestDecodeGoldenPNG(t *testing.T) {
	img := ppLoadImage(t, "clip_tiny", "image.png")
	require.Equal(t, image.Rect(0, 0, 48, 40), img.Bounds())
	rgb := ToRGB(img)
	require.Equal(t, 48*40*3, len(rgb.Pix))
	// README: red circle + blue square on white; the corner is white.
	require.Equal(t, []uint8{255, 255, 255}, rgb.Pix[:3])
}

func TestDecodeBombRefusedBeforePixels(t *testing.T) {
	// 60000 x 60000 = 3.6e9 pixels: refused from the header alone.
	_, err := DecodeImage(bytes.NewReader(pngHeaderOnly(60000, 60000)), "bomb.png")
	require.ErrorIs(t, err, ErrImageTooLarge)
	require.ErrorContains(t, err, "bomb.png")
	require.ErrorContains(t, err, "MaxImagePixels")
	// One side above MaxImageSide with few pixels.
	_, err = DecodeImage(bytes.NewReader(pngHeaderOnly(MaxImageSide+1, 1)), "strip.png")
	require.ErrorIs(t, err, ErrImageTooLarge)
	require.ErrorContains(t, err, "MaxImageSide")
	// Just under the limits: header accepted, then pixel decoding fails
	// because there is no data (proves the check ran first, not the decoder).
	_, err = DecodeImage(bytes.NewReader(pngHeaderOnly(100, 100)), "empty.png")
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrImageTooLarge)
	require.ErrorContains(t, err, "decoding pixels")
}

func TestDecodeCorrupt(t *testing.T) {
	_, err := DecodeImage(bytes.NewReader([]byte("definitely not an image")), "junk.bin")
	require.ErrorContains(t, err, "junk.bin")

	good := encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	_, err = DecodeImage(bytes.NewReader(good[:len(good)-20]), "truncated.png")
	require.ErrorContains(t, err, "truncated.png")

	dir := t.TempDir()
	path := filepath.Join(dir, "bad.png")
	require.NoError(t, os.WriteFile(path, good[:30], 0o600))
	_, err = LoadImage(path)
	require.ErrorContains(t, err, "bad.png")
	_, err = LoadImage(filepath.Join(dir, "missing.png"))
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestDecodeRoundTripFormats(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 6, 4))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	img, err := DecodeImage(bytes.NewReader(encodePNG(t, src)), "rt.png")
	require.NoError(t, err)
	require.Equal(t, src.Bounds(), img.Bounds())

	var jb bytes.Buffer
	require.NoError(t, jpeg.Encode(&jb, src, nil))
	img, err = DecodeImage(&jb, "rt.jpg")
	require.NoError(t, err)
	require.Equal(t, src.Bounds(), img.Bounds())
}

// TestToRGBConversions checks Pillow convert("RGB") semantics after a PNG
// round trip: alpha dropped (stored colour kept), palette lookup, gray
// replicated, 16-bit RGB high byte, 16-bit gray clipped (Pillow mode I).
func TestToRGBConversions(t *testing.T) {
	decode := func(img image.Image) *RGBImage {
		d, err := DecodeImage(bytes.NewReader(encodePNG(t, img)), "conv.png")
		require.NoError(t, err)
		return ToRGB(d)
	}

	// RGBA with alpha: fully transparent and half transparent pixels keep
	// their straight colour (no compositing onto white or black).
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{10, 20, 30, 0})
	nrgba.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 128})
	require.Equal(t, []uint8{10, 20, 30, 200, 100, 50}, decode(nrgba).Pix)

	// Palette with a transparent entry (PNG tRNS): entry colours kept.
	pal := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{
		color.NRGBA{1, 2, 3, 255}, color.NRGBA{40, 50, 60, 0}, color.NRGBA{7, 8, 9, 255},
	})
	pal.Pix = []uint8{2, 1, 0}
	require.Equal(t, []uint8{7, 8, 9, 40, 50, 60, 1, 2, 3}, decode(pal).Pix)

	// Gray replicated.
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []uint8{0, 77}
	require.Equal(t, []uint8{0, 0, 0, 77, 77, 77}, decode(gray).Pix)

	// 16-bit RGB: high byte.
	rgb16 := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	rgb16.SetRGBA64(0, 0, color.RGBA64{0x12ff, 0xab01, 0x0080, 0xffff})
	require.Equal(t, []uint8{0x12, 0xab, 0x00}, decode(rgb16).Pix)

	// 16-bit gray: Pillow mode "I" -> RGB clips the value to 0..255.
	g16 := image.NewGray16(image.Rect(0, 0, 3, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 100})
	g16.SetGray16(1, 0, color.Gray16{Y: 255})
	g16.SetGray16(2, 0, color.Gray16{Y: 40000})
	require.Equal(t, []uint8{100, 100, 100, 255, 255, 255, 255, 255, 255}, decode(g16).Pix)

	// Go premultiplied RGBA in memory: un-premultiplied, alpha dropped.
	pm := image.NewRGBA(image.Rect(0, 0, 1, 1))
	pm.SetRGBA(0, 0, color.RGBA{50, 25, 0, 127}) // straight ≈ (100, 50, 0)
	require.Equal(t, []uint8{100, 50, 0}, ToRGB(pm).Pix)

	// Sub-image bounds not at the origin.
	big := image.NewGray(image.Rect(0, 0, 4, 4))
	big.Pix[2*4+3] = 9
	sub := big.SubImage(image.Rect(2, 1, 4, 3))
	require.Equal(t, []uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9}, ToRGB(sub).Pix)
}
