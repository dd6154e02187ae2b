package arena_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/arena"
)

// Size the arena for every buffer first, then carve them in the order
// they will be read.
func ExampleArena() {
	sizes := []int{1000, 24, 4096}
	total := 0
	for _, n := range sizes {
		total += arena.FloatsSize(n)
	}
	a := arena.New(total)
	for _, n := range sizes {
		buf := a.Floats(n)
		buf[0] = 1
		fmt.Println(len(buf))
	}
	fmt.Println(a.Used() <= a.Size())
	// Output:
	// 1000
	// 24
	// 4096
	// true
}
