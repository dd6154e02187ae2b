package shapes

import (
	"context"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pixels lists the pixels (x, y) a one-shape scene colours.
func pixels(t *testing.T, s Shape) map[[2]int]bool {
	t.Helper()
	sc := Scene{Shapes: []Shape{s}}
	require.NoError(t, sc.Validate())
	img := Render(sc)
	out := map[[2]int]bool{}
	for y := 0; y < Size; y++ {
		for x := 0; x < Size; x++ {
			switch c := img.RGBAAt(x, y); c {
			case Background:
			case s.Colour.RGBA():
				out[[2]int{x, y}] = true
			default:
				t.Fatalf("pixel (%d, %d) has colour %v, neither background nor the shape's", x, y, c)
			}
		}
	}
	return out
}

// The circle of radius 5 centred on a pixel centre covers the lattice
// points with dx² + dy² ≤ 25: 81 of them (Gauss's circle count), and the
// pixels whose centres lie exactly on the boundary are in.
func TestCircleBoundary(t *testing.T) {
	c := Shape{Kind: Circle, Colour: Blue, Column: Middle, S: 5, CX: 32.5, CY: 20.5}
	px := pixels(t, c)
	require.Len(t, px, 81)
	for _, in := range [][2]int{{32, 25}, {32, 15}, {37, 20}, {27, 20}, {35, 24}, {36, 23}, {29, 17}} {
		require.True(t, px[in], "pixel %v lies on the circle boundary (distance exactly 5): inside", in)
	}
	for _, out := range [][2]int{{32, 26}, {32, 14}, {38, 20}, {26, 20}, {36, 24}, {28, 16}} {
		require.False(t, px[out], "pixel %v is outside the circle", out)
	}
}

// A square with s = 6 centred on a pixel centre covers 13 × 13 pixels: the
// edge pixels' centres are exactly s away.
func TestSquareEdges(t *testing.T) {
	s := Shape{Kind: Square, Colour: Red, Column: Middle, S: 6, CX: 32.5, CY: 40.5}
	px := pixels(t, s)
	require.Len(t, px, 13*13)
	for x := 26; x <= 38; x++ {
		require.True(t, px[[2]int{x, 34}] && px[[2]int{x, 46}], "top and bottom edge at x=%d", x)
	}
	for y := 34; y <= 46; y++ {
		require.True(t, px[[2]int{26, y}] && px[[2]int{38, y}], "left and right edge at y=%d", y)
		require.False(t, px[[2]int{25, y}] || px[[2]int{39, y}], "outside the edges at y=%d", y)
	}
	require.False(t, px[[2]int{32, 33}] || px[[2]int{32, 47}])
}

// A triangle with s = 6, apex on a pixel centre: row y = 24 + k has
// half-width k/2, so 2⌊k/2⌋+1 pixels; 85 in all, the base row 13 wide.
func TestTriangleRows(t *testing.T) {
	tr := Shape{Kind: Triangle, Colour: Green, Column: Middle, S: 6, CX: 32.5, CY: 30.5}
	px := pixels(t, tr)
	require.Len(t, px, 85)
	for k := 0; k <= 12; k++ {
		y := 24 + k
		n := 0
		for x := 0; x < Size; x++ {
			if px[[2]int{x, y}] {
				n++
				require.LessOrEqual(t, 2*abs(float64(x)+0.5-32.5), float64(k), "pixel (%d, %d)", x, y)
			}
		}
		require.Equal(t, 2*(k/2)+1, n, "row %d", y)
	}
	require.True(t, px[[2]int{32, 24}], "apex pixel")
	require.False(t, px[[2]int{31, 25}] || px[[2]int{33, 25}], "row below the apex is still one pixel")
	require.True(t, px[[2]int{26, 36}] && px[[2]int{38, 36}], "base corners")
	for x := 0; x < Size; x++ {
		require.False(t, px[[2]int{x, 23}] || px[[2]int{x, 37}], "rows above the apex and below the base")
	}

	// Apex off the pixel grid (left column centre 64/6 = 10.67): the apex
	// row holds no pixel centre; the next row (half-width 0.5) holds x = 10.
	off := Shape{Kind: Triangle, Colour: Green, Column: Left, S: 6, CX: 64.0 / 6, CY: 30.5}
	px = pixels(t, off)
	for x := 0; x < Size; x++ {
		require.False(t, px[[2]int{x, 24}], "apex row is empty at x=%d", x)
	}
	require.True(t, px[[2]int{10, 25}])
	require.False(t, px[[2]int{9, 25}] || px[[2]int{11, 25}])
}

func TestColumnCentres(t *testing.T) {
	require.Equal(t, 64.0/6, ColumnCentre(Left))
	require.Equal(t, 32.0, ColumnCentre(Middle))
	require.Equal(t, 5*64.0/6, ColumnCentre(Right))
}

// Sampled scenes satisfy the spec's ranges, shapes stay inside the image,
// and no pixel centre is inside two shapes.
func TestSampleRangesNoOverlap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	counts := map[int]int{}
	for i := 0; i < 500; i++ {
		sc := Sample(r)
		require.NoError(t, sc.Validate())
		counts[len(sc.Shapes)]++
		for _, s := range sc.Shapes {
			require.GreaterOrEqual(t, s.CX-s.S, 0.0)
			require.LessOrEqual(t, s.CX+s.S, float64(Size))
		}
		for y := 0; y < Size; y++ {
			for x := 0; x < Size; x++ {
				n := 0
				for _, s := range sc.Shapes {
					if s.Contains(float64(x)+0.5, float64(y)+0.5) {
						n++
					}
				}
				require.LessOrEqual(t, n, 1, "scene %d pixel (%d, %d) is inside %d shapes", i, x, y, n)
			}
		}
	}
	for n := 1; n <= 3; n++ {
		require.Greater(t, counts[n], 100, "scenes with %d shapes", n)
	}
	// The worst case: widest shapes pushed towards each other.
	l := Shape{Kind: Square, S: MaxHalf, CX: ColumnCentre(Left) + MaxShift}
	m := Shape{Kind: Square, S: MaxHalf, CX: ColumnCentre(Middle) - MaxShift}
	require.Less(t, l.CX+l.S, m.CX-m.S)
}

func TestValidateRejects(t *testing.T) {
	ok := Shape{Kind: Circle, Colour: Red, Column: Left, S: 6, CX: 11, CY: 30}
	bad := []Scene{
		{},
		{Shapes: []Shape{ok, ok}},
		{Shapes: []Shape{{Kind: Circle, Colour: Red, Column: Left, S: 9, CX: 11, CY: 30}}},
		{Shapes: []Shape{{Kind: Circle, Colour: Red, Column: Left, S: 6, CX: 14, CY: 30}}},
		{Shapes: []Shape{{Kind: Circle, Colour: Red, Column: Left, S: 6, CX: 11, CY: 8}}},
		{Shapes: []Shape{{Kind: 5, Colour: Red, Column: Left, S: 6, CX: 11, CY: 30}}},
	}
	for i, sc := range bad {
		require.Error(t, sc.Validate(), "scene %d", i)
	}
}

func TestCaptionExample(t *testing.T) {
	sc := Scene{Shapes: []Shape{
		{Kind: Triangle, Colour: Red, Column: Left, S: 6, CX: 11, CY: 30},
		{Kind: Circle, Colour: Green, Column: Middle, S: 6, CX: 32, CY: 30},
		{Kind: Square, Colour: Green, Column: Right, S: 6, CX: 53, CY: 30},
	}}
	require.Equal(t, "a red triangle on the left and a green circle in the middle and a green square on the right", sc.Caption())
	got := map[string]string{}
	for _, q := range sc.Questions() {
		got[q.Question] = q.Answer
	}
	require.Equal(t, map[string]string{
		"How many shapes are there?":   "three",
		"What colour is the circle?":   "green",
		"What colour is the square?":   "green",
		"What colour is the triangle?": "red",
		"What shape is on the left?":   "triangle",
		"What shape is on the middle?": "circle",
		"What shape is on the right?":  "square",
		"Where is the green circle?":   "middle",
		"Where is the green square?":   "right",
		"Where is the red triangle?":   "left",
		"Describe the image.":          sc.Caption(),
	}, got)

	two := Scene{Shapes: []Shape{
		{Kind: Circle, Colour: Blue, Column: Left, S: 6, CX: 11, CY: 30},
		{Kind: Circle, Colour: Blue, Column: Right, S: 6, CX: 53, CY: 30},
	}}
	var qs []string
	for _, q := range two.Questions() {
		qs = append(qs, q.Question+" "+q.Answer)
	}
	// Two blue circles: no colour or where question about them.
	require.Equal(t, []string{
		"How many shapes are there? two",
		"What shape is on the left? circle",
		"What shape is on the right? circle",
		"Describe the image. a blue circle on the left and a blue circle on the right",
	}, qs)
}

var (
	colourQ = regexp.MustCompile(`^What colour is the (circle|square|triangle)\?$`)
	shapeQ  = regexp.MustCompile(`^What shape is on the (left|middle|right)\?$`)
	whereQ  = regexp.MustCompile(`^Where is the (red|green|blue|yellow) (circle|square|triangle)\?$`)
)

// checkQA verifies one question against the scene by reading the shapes,
// independently of Questions: the question is allowed and the answer right.
func checkQA(sc Scene, q QA) error {
	find := func(pred func(Shape) bool) []Shape {
		var out []Shape
		for _, s := range sc.Shapes {
			if pred(s) {
				out = append(out, s)
			}
		}
		return out
	}
	var want string
	switch m := []([]string){colourQ.FindStringSubmatch(q.Question), shapeQ.FindStringSubmatch(q.Question), whereQ.FindStringSubmatch(q.Question)}; {
	case q.Question == "How many shapes are there?":
		want = []string{"", "one", "two", "three"}[len(sc.Shapes)]
	case q.Question == "Describe the image.":
		var parts []string
		for _, s := range sc.Shapes {
			where := map[Column]string{Left: "on the left", Middle: "in the middle", Right: "on the right"}[s.Column]
			parts = append(parts, "a "+s.Colour.String()+" "+s.Kind.String()+" "+where)
		}
		want = strings.Join(parts, " and ")
	case m[0] != nil:
		f := find(func(s Shape) bool { return s.Kind.String() == m[0][1] })
		if len(f) != 1 {
			return fmt.Errorf("%q asked with %d shapes of that kind", q.Question, len(f))
		}
		want = f[0].Colour.String()
	case m[1] != nil:
		f := find(func(s Shape) bool { return s.Column.String() == m[1][1] })
		if len(f) != 1 {
			return fmt.Errorf("%q asked of an empty column", q.Question)
		}
		want = f[0].Kind.String()
	case m[2] != nil:
		f := find(func(s Shape) bool { return s.Colour.String() == m[2][1] && s.Kind.String() == m[2][2] })
		if len(f) != 1 {
			return fmt.Errorf("%q asked with %d such shapes", q.Question, len(f))
		}
		want = f[0].Column.String()
	default:
		return fmt.Errorf("question %q is not in the spec's table", q.Question)
	}
	if q.Answer != want {
		return fmt.Errorf("%q: answer %q, want %q", q.Question, q.Answer, want)
	}
	return nil
}

// Every question is valid for its scene, and every question the table
// allows is asked (counted per type from the shapes).
func TestQuestionsValid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	for i := 0; i < 2000; i++ {
		sc := Sample(r)
		qs := sc.Questions()
		seen := map[string]bool{}
		perType := map[QuestionType]int{}
		for _, q := range qs {
			require.NoError(t, checkQA(sc, q), "scene %d %+v", i, sc)
			require.False(t, seen[q.Question], "question %q asked twice", q.Question)
			seen[q.Question] = true
			perType[q.Type]++
		}
		kinds, pairs := map[Kind]int{}, map[[2]int]int{}
		for _, s := range sc.Shapes {
			kinds[s.Kind]++
			pairs[[2]int{int(s.Kind), int(s.Colour)}]++
		}
		uniqueKinds, uniquePairs := 0, 0
		for _, n := range kinds {
			if n == 1 {
				uniqueKinds++
			}
		}
		for _, n := range pairs {
			if n == 1 {
				uniquePairs++
			}
		}
		require.Equal(t, 1, perType[Count])
		require.Equal(t, 1, perType[Describe])
		require.Equal(t, len(sc.Shapes), perType[ShapeAt])
		require.Equal(t, uniqueKinds, perType[ColourOf])
		require.Equal(t, uniquePairs, perType[Where])
	}
}

func TestMatch(t *testing.T) {
	for _, c := range [][2]string{
		{"red", "red"}, {"Red", "red"}, {"red.", "red"}, {"  RED.\n", "red"}, {"red .", "red"},
		{"A red circle on the left.", "a red circle on the left"}, {"two", "Two."},
	} {
		require.True(t, Match(c[0], c[1]), "%q vs %q", c[0], c[1])
	}
	for _, c := range [][2]string{
		{"red..", "red"}, {"blue", "red"}, {"red!", "red"}, {"", "red"}, {"reds", "red"}, {"re d", "red"},
	} {
		require.False(t, Match(c[0], c[1]), "%q vs %q", c[0], c[1])
	}
}

func TestScenesDeterministic(t *testing.T) {
	a, err := Scenes(42, Train, 50)
	require.NoError(t, err)
	b, err := Scenes(42, Train, 50)
	require.NoError(t, err)
	require.Equal(t, a, b)
	c, err := Scenes(43, Train, 50)
	require.NoError(t, err)
	require.NotEqual(t, a, c)
	h, err := Scenes(42, HeldOut, 50)
	require.NoError(t, err)
	require.NotEqual(t, a, h)
	_, err = Scenes(42, Split("test"), 1)
	require.ErrorContains(t, err, "unknown split")
}

// WriteSplit's files: PNGs equal to Render, rows with the LLaVA layout and
// relative image paths, scene records that round-trip.
func TestWriteSplit(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteSplit(context.Background(), dir, 5, HeldOut, 4)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "heldout.jsonl"), path)
	scenes, err := Scenes(5, HeldOut, 4)
	require.NoError(t, err)

	rows, err := ReadRows(path)
	require.NoError(t, err)
	n := 0
	for _, sc := range scenes {
		n += len(sc.Questions())
	}
	require.Len(t, rows, n)
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	line := strings.SplitN(string(first), "\n", 2)[0]
	require.Regexp(t, `^\{"id":"heldout-00000-0","image":"heldout/00000.png","conversations":\[\{"from":"human","value":"<image>\\nHow many shapes are there\?"\},\{"from":"gpt","value":"(one|two|three)"\}\]\}$`, line)
	for _, r := range rows {
		var i int
		_, err := fmt.Sscanf(r.Image, "heldout/%05d.png", &i)
		require.NoError(t, err)
		q, err := r.Question()
		require.NoError(t, err)
		a, ok := r.Answer()
		require.True(t, ok)
		require.NoError(t, checkQA(scenes[i], QA{Question: q, Answer: a}))
	}
	for i, sc := range scenes {
		f, err := os.Open(filepath.Join(dir, ImageName(HeldOut, i)))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err)
		want := Render(sc)
		for y := 0; y < Size; y++ {
			for x := 0; x < Size; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				w := want.RGBAAt(x, y)
				require.Equal(t, [3]uint32{uint32(w.R), uint32(w.G), uint32(w.B)}, [3]uint32{r >> 8, g >> 8, b >> 8})
			}
		}
	}
	recs, err := ReadSceneRecords(filepath.Join(dir, "heldout.scenes.jsonl"))
	require.NoError(t, err)
	require.Len(t, recs, 4)
	for i, rec := range recs {
		require.Equal(t, ImageName(HeldOut, i), rec.Image)
		require.Equal(t, scenes[i].Shapes, rec.Shapes)
	}
}

func TestReadRowsErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(`{"id":"a","conversations":[{"from":"human","value":"hi"}]}`+"\n{oops\n"), 0o644))
	_, err := ReadRows(p)
	require.ErrorContains(t, err, "bad.jsonl:2")
	require.NoError(t, os.WriteFile(p, []byte(`{"id":"a","conversations":[{"from":"gpt","value":"hi"}]}`), 0o644))
	_, err = ReadRows(p)
	require.ErrorContains(t, err, "human")
}
