package shapes

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"strings"
)

// Image geometry of the spec.
const (
	// Size is the image width and height in pixels.
	Size = 64
	// NumColumns is the number of columns (left, middle, right).
	NumColumns = 3
	// MinHalf and MaxHalf bound the half-size s.
	MinHalf, MaxHalf = 5.0, 8.0
	// MaxShift bounds the horizontal offset u from the column centre.
	MaxShift = 2.0
	// Margin is the least distance between a shape and the top or bottom edge.
	Margin = 3.0
	// MaxShapes is the most shapes an image holds.
	MaxShapes = 3
)

// Background is the image background colour.
var Background = color.RGBA{R: 255, G: 255, B: 255, A: 255}

// ColumnCentre returns the x of column c's centre: 64/6, 64/2, 5·64/6.
func ColumnCentre(c Column) float64 {
	switch c {
	case Left:
		return Size / 6.0
	case Middle:
		return Size / 2.0
	case Right:
		return 5 * Size / 6.0
	}
	panic(fmt.Sprintf("shapes: column %d outside [0, %d)", c, NumColumns))
}

// Kind is a shape's kind.
type Kind int

// The kinds, in the order Sample draws them.
const (
	Circle Kind = iota
	Square
	Triangle
	numKinds
)

// Kinds lists every kind.
var Kinds = []Kind{Circle, Square, Triangle}

func (k Kind) String() string {
	switch k {
	case Circle:
		return "circle"
	case Square:
		return "square"
	case Triangle:
		return "triangle"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Colour is a shape's colour.
type Colour int

// The colours, in the order Sample draws them.
const (
	Red Colour = iota
	Green
	Blue
	Yellow
	numColours
)

// Colours lists every colour.
var Colours = []Colour{Red, Green, Blue, Yellow}

func (c Colour) String() string {
	switch c {
	case Red:
		return "red"
	case Green:
		return "green"
	case Blue:
		return "blue"
	case Yellow:
		return "yellow"
	}
	return fmt.Sprintf("Colour(%d)", int(c))
}

// RGBA is the colour's pixel value.
func (c Colour) RGBA() color.RGBA {
	switch c {
	case Red:
		return color.RGBA{R: 220, G: 40, B: 40, A: 255}
	case Green:
		return color.RGBA{R: 40, G: 160, B: 60, A: 255}
	case Blue:
		return color.RGBA{R: 40, G: 80, B: 220, A: 255}
	case Yellow:
		return color.RGBA{R: 230, G: 190, B: 30, A: 255}
	}
	panic(fmt.Sprintf("shapes: colour %d outside [0, %d)", int(c), numColours))
}

// Column is one of the three columns.
type Column int

// The columns, left to right.
const (
	Left Column = iota
	Middle
	Right
)

// Columns lists every column, left to right.
var Columns = []Column{Left, Middle, Right}

func (c Column) String() string {
	switch c {
	case Left:
		return "left"
	case Middle:
		return "middle"
	case Right:
		return "right"
	}
	return fmt.Sprintf("Column(%d)", int(c))
}

// phrase is the column as a caption says it.
func (c Column) phrase() string {
	switch c {
	case Left:
		return "on the left"
	case Middle:
		return "in the middle"
	}
	return "on the right"
}

// Shape is one shape of a scene. CX is the column centre plus the offset u.
type Shape struct {
	Kind   Kind    `json:"kind"`
	Colour Colour  `json:"colour"`
	Column Column  `json:"column"`
	S      float64 `json:"s"`  // half-size, in [5, 8]
	CX     float64 `json:"cx"` // centre x
	CY     float64 `json:"cy"` // centre y, in [s + 3, 61 − s]
}

// Contains reports whether the pixel centre (px, py) is inside the shape,
// boundary included. Every product is rounded on its own (no FMA), so the
// result is the IEEE double evaluation of the spec's formulas.
func (s Shape) Contains(px, py float64) bool {
	switch s.Kind {
	case Circle:
		dx, dy := px-s.CX, py-s.CY
		return float64(dx*dx)+float64(dy*dy) <= float64(s.S*s.S)
	case Square:
		return abs(px-s.CX) <= s.S && abs(py-s.CY) <= s.S
	case Triangle:
		top := s.CY - s.S
		return top <= py && py <= s.CY+s.S && abs(px-s.CX) <= (py-top)/2
	}
	return false
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Scene is one image's content: shapes sorted left to right, at most one
// per column.
type Scene struct {
	Shapes []Shape `json:"shapes"`
}

// Validate checks the scene against the spec: 1–3 shapes, distinct
// columns in left-to-right order, known kinds and colours, and s, u, cy in
// their ranges.
func (sc Scene) Validate() error {
	if n := len(sc.Shapes); n < 1 || n > MaxShapes {
		return fmt.Errorf("shapes: a scene holds 1 to %d shapes, got %d", MaxShapes, n)
	}
	for i, s := range sc.Shapes {
		switch {
		case s.Column < Left || s.Column > Right:
			return fmt.Errorf("shapes: shape %d: column %d outside [0, %d)", i, s.Column, NumColumns)
		case i > 0 && s.Column <= sc.Shapes[i-1].Column:
			return fmt.Errorf("shapes: shape %d: columns must be distinct and left to right", i)
		case s.Kind < 0 || s.Kind >= numKinds:
			return fmt.Errorf("shapes: shape %d: kind %d outside [0, %d)", i, s.Kind, numKinds)
		case s.Colour < 0 || s.Colour >= numColours:
			return fmt.Errorf("shapes: shape %d: colour %d outside [0, %d)", i, s.Colour, numColours)
		case !(s.S >= MinHalf && s.S <= MaxHalf):
			return fmt.Errorf("shapes: shape %d: half-size %v outside [%v, %v]", i, s.S, MinHalf, MaxHalf)
		case !(abs(s.CX-ColumnCentre(s.Column)) <= MaxShift):
			return fmt.Errorf("shapes: shape %d: cx %v more than %v from its column centre", i, s.CX, MaxShift)
		case !(s.CY >= s.S+Margin && s.CY <= Size-Margin-s.S):
			return fmt.Errorf("shapes: shape %d: cy %v outside [s+%v, %v-s]", i, s.CY, Margin, Size-Margin)
		}
	}
	return nil
}

// Sample draws a scene: the number of shapes, the columns, then per shape
// (left to right) kind, colour, s, u and cy.
func Sample(r *rand.Rand) Scene {
	n := 1 + r.IntN(MaxShapes)
	cols := r.Perm(NumColumns)[:n]
	var used [NumColumns]bool
	for _, c := range cols {
		used[c] = true
	}
	sc := Scene{Shapes: make([]Shape, 0, n)}
	for _, c := range Columns {
		if !used[c] {
			continue
		}
		s := Shape{Kind: Kind(r.IntN(int(numKinds))), Colour: Colour(r.IntN(int(numColours))), Column: c}
		s.S = MinHalf + (MaxHalf-MinHalf)*r.Float64()
		s.CX = ColumnCentre(c) + MaxShift*(2*r.Float64()-1)
		lo, hi := s.S+Margin, Size-Margin-s.S
		s.CY = lo + (hi-lo)*r.Float64()
		sc.Shapes = append(sc.Shapes, s)
	}
	return sc
}

// Render draws the scene at 64 × 64: white background, each pixel whose
// centre is inside a shape takes that shape's colour.
func Render(sc Scene) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, Size, Size))
	for y := 0; y < Size; y++ {
		for x := 0; x < Size; x++ {
			c := Background
			px, py := float64(x)+0.5, float64(y)+0.5
			for _, s := range sc.Shapes {
				if s.Contains(px, py) {
					c = s.Colour.RGBA()
					break
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// QA is one question about a scene with its exact answer.
type QA struct {
	Type     QuestionType
	Question string
	Answer   string
}

// QuestionType names the five kinds of question of the spec's table.
type QuestionType string

// The question types.
const (
	Count    QuestionType = "count"
	ColourOf QuestionType = "colour"
	ShapeAt  QuestionType = "shape"
	Where    QuestionType = "where"
	Describe QuestionType = "describe"
)

// QuestionTypes lists the question types in table order.
var QuestionTypes = []QuestionType{Count, ColourOf, ShapeAt, Where, Describe}

var countWords = [...]string{1: "one", 2: "two", 3: "three"}

// Caption is the answer to "Describe the image.": the shapes left to
// right, each "a {colour} {kind} {on the left|in the middle|on the right}",
// joined by " and ".
func (sc Scene) Caption() string {
	parts := make([]string, len(sc.Shapes))
	for i, s := range sc.Shapes {
		parts[i] = fmt.Sprintf("a %s %s %s", s.Colour, s.Kind, s.Column.phrase())
	}
	return strings.Join(parts, " and ")
}

// Questions returns every question the spec asks of the scene, in table
// order (kinds, columns and colours in their declaration order).
func (sc Scene) Questions() []QA {
	qs := []QA{{Count, "How many shapes are there?", countWords[len(sc.Shapes)]}}
	for _, k := range Kinds {
		var only *Shape
		n := 0
		for i := range sc.Shapes {
			if sc.Shapes[i].Kind == k {
				n, only = n+1, &sc.Shapes[i]
			}
		}
		if n == 1 {
			qs = append(qs, QA{ColourOf, fmt.Sprintf("What colour is the %s?", k), only.Colour.String()})
		}
	}
	for _, s := range sc.Shapes {
		qs = append(qs, QA{ShapeAt, fmt.Sprintf("What shape is on the %s?", s.Column), s.Kind.String()})
	}
	for _, k := range Kinds {
		for _, c := range Colours {
			var only *Shape
			n := 0
			for i := range sc.Shapes {
				if sc.Shapes[i].Kind == k && sc.Shapes[i].Colour == c {
					n, only = n+1, &sc.Shapes[i]
				}
			}
			if n == 1 {
				qs = append(qs, QA{Where, fmt.Sprintf("Where is the %s %s?", c, k), only.Column.String()})
			}
		}
	}
	return append(qs, QA{Describe, "Describe the image.", sc.Caption()})
}

// Normalize is an answer as the spec compares it: lower case, surrounding
// white space trimmed, one trailing full stop removed (and the white space
// before it).
func Normalize(answer string) string {
	a := strings.TrimSpace(answer)
	a = strings.TrimSuffix(a, ".")
	return strings.ToLower(strings.TrimSpace(a))
}

// Match reports whether got is the expected answer want under the spec's
// rule: case-insensitive, after trimming surrounding white space and one
// trailing full stop.
func Match(got, want string) bool { return Normalize(got) == Normalize(want) }
