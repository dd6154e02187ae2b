// Package shapes is the shapes world (v1) of the project notes
// (shared/notes/shapes-world.md): 64 × 64 images of one to three coloured
// shapes, one per column, and five kinds of question about them, specified
// to the pixel so that anyone can render fair test images from the page.
//
// # Geometry
//
// Pixel (x, y) has its centre at (x + 0.5, y + 0.5). A pixel takes a
// shape's colour when its centre passes the shape's inside test (boundary
// included; no anti-aliasing). The tests are written with every product
// rounded on its own (float64(a*b)) so that the compiler cannot fuse them
// into FMA instructions: an independent renderer evaluating the same
// formulas in IEEE double arithmetic gets the same pixels, also on pixel
// centres that lie exactly on a boundary.
//
// Columns are 64/6 apart from the edges (centres 64/6, 64/2, 5·64/6). With
// s ≤ 8 and |u| ≤ 2 a shape spans at most [c − 10, c + 10] horizontally,
// and neighbouring column centres are 21.33 apart, so shapes in distinct
// columns never overlap; with cy ∈ [s + 3, 61 − s] every shape lies inside
// the image.
//
// # Sampling
//
// Sample draws a scene from a *rand.Rand (math/rand/v2): the number of
// shapes (1–3), the columns (a random subset), then per shape, left to
// right, kind, colour, s, u and cy, in that order. A split's images come
// from one PCG stream per (seed, split), so a seed fixes the dataset.
//
// # Questions
//
// Questions lists every question the spec's table allows for a scene, each
// with its exact answer; Match is the spec's comparison rule. WriteSplit
// writes a split as PNG files plus LLaVA JSONL rows (one row per question,
// image paths relative to the JSONL file).
package shapes
