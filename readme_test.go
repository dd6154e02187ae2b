package fovea

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeSnippetsAreExamples checks that every Go snippet of the
// README's "Using it from Go" section is the body of an Example in
// readme_example_test.go, so the README shows code that compiles and runs.
func TestReadmeSnippetsAreExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	examples, err := os.ReadFile("readme_example_test.go")
	require.NoError(t, err)
	text := string(readme)
	start := strings.Index(text, "## Using it from Go")
	require.GreaterOrEqual(t, start, 0)
	end := strings.Index(text[start+1:], "\n## ")
	require.Greater(t, end, 0)
	section := text[start : start+1+end]
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(section, -1)
	require.GreaterOrEqual(t, len(blocks), 5)
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	all := norm(string(examples))
	for _, b := range blocks {
		require.Contains(t, all, norm(b[1]), "README snippet not found in readme_example_test.go")
	}
}
