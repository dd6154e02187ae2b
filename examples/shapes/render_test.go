package main

import (
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/stretchr/testify/require"
)

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH: the independent renderer cannot run")
	}
	return p
}

// samePixels asserts that the PNG at path is exactly Render(sc).
func samePixels(t *testing.T, path string, sc shapes.Scene) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, shapes.Size, img.Bounds().Dx())
	require.Equal(t, shapes.Size, img.Bounds().Dy())
	want := shapes.Render(sc)
	for y := 0; y < shapes.Size; y++ {
		for x := 0; x < shapes.Size; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			w := want.RGBAAt(x, y)
			if uint8(r>>8) != w.R || uint8(g>>8) != w.G || uint8(b>>8) != w.B || a != 0xffff {
				t.Fatalf("%s: pixel (%d, %d) = (%d, %d, %d), Go renders (%d, %d, %d); scene %+v",
					path, x, y, r>>8, g>>8, b>>8, w.R, w.G, w.B, sc)
			}
		}
	}
}

// edgeScenes put pixel centres exactly on boundaries: a circle through
// lattice points, square edges at distance s, triangle apex rows on and off
// the pixel grid, extreme s, u and cy.
func edgeScenes() []shapes.Scene {
	return []shapes.Scene{
		{Shapes: []shapes.Shape{
			{Kind: shapes.Circle, Colour: shapes.Red, Column: shapes.Left, S: 5, CX: 10.5, CY: 20.5},
			{Kind: shapes.Square, Colour: shapes.Green, Column: shapes.Middle, S: 6, CX: 32.5, CY: 40.5},
			{Kind: shapes.Triangle, Colour: shapes.Blue, Column: shapes.Right, S: 6, CX: 53.5, CY: 30.5},
		}},
		{Shapes: []shapes.Shape{
			{Kind: shapes.Triangle, Colour: shapes.Yellow, Column: shapes.Left, S: 8, CX: 64.0/6 - 2, CY: 11},
			{Kind: shapes.Circle, Colour: shapes.Blue, Column: shapes.Right, S: 8, CX: 5*64.0/6 + 2, CY: 53},
		}},
		{Shapes: []shapes.Shape{
			{Kind: shapes.Circle, Colour: shapes.Green, Column: shapes.Middle, S: 7.5, CX: 32, CY: 32},
		}},
		{Shapes: []shapes.Shape{
			{Kind: shapes.Triangle, Colour: shapes.Red, Column: shapes.Left, S: 6, CX: 64.0 / 6, CY: 30.5},
			{Kind: shapes.Square, Colour: shapes.Yellow, Column: shapes.Middle, S: 5, CX: 30, CY: 8},
			{Kind: shapes.Triangle, Colour: shapes.Green, Column: shapes.Right, S: 5.5, CX: 5 * 64.0 / 6, CY: 55.5},
		}},
	}
}

// The independent Python renderer and the Go generator draw the same
// scenes (hand-made edge cases and sampled ones) pixel for pixel.
func TestIndependentRendererSamePixels(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	scenes := edgeScenes()
	sampled, err := shapes.Scenes(11, shapes.HeldOut, 60)
	require.NoError(t, err)
	scenes = append(scenes, sampled...)
	var b strings.Builder
	for i, sc := range scenes {
		require.NoError(t, sc.Validate(), "scene %d", i)
		data, err := json.Marshal(shapes.SceneRecord{Image: shapes.ImageName("cross", i), Shapes: sc.Shapes})
		require.NoError(t, err)
		b.Write(append(data, '\n'))
	}
	file := filepath.Join(dir, "cross.scenes.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o644))
	out, err := exec.Command(py, "render_independent.py", "--scenes", file, "--out", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for i, sc := range scenes {
		samePixels(t, filepath.Join(dir, shapes.ImageName("cross", i)), sc)
	}
}

// The Python program's own sampler and question list: its scenes satisfy
// the spec's ranges, its images equal Go's rendering of its parameters,
// and its rows are exactly the questions and answers Go derives.
func TestIndependentDataset(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	out, err := exec.Command(py, "render_independent.py", "--count", "40", "--seed", "5", "--out", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	recs, err := shapes.ReadSceneRecords(filepath.Join(dir, "indep.scenes.jsonl"))
	require.NoError(t, err) // validates every scene
	require.Len(t, recs, 40)
	rows, err := shapes.ReadRows(filepath.Join(dir, "indep.jsonl"))
	require.NoError(t, err)
	var want []shapes.Row
	for _, rec := range recs {
		sc := shapes.Scene{Shapes: rec.Shapes}
		samePixels(t, filepath.Join(dir, rec.Image), sc)
		for j, q := range sc.Questions() {
			id := strings.TrimSuffix(strings.ReplaceAll(rec.Image, "/", "-"), ".png")
			want = append(want, shapes.NewRow(id+"-"+strconv.Itoa(j), rec.Image, q))
		}
	}
	require.Equal(t, want, rows)
}
