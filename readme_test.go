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
	readme, examples := readmeAndExamples(t)
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

// readmeAndExamples reads README.md and the Example file its Go snippets
// come from.
func readmeAndExamples(t *testing.T) (readme, examples []byte) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	examples, err = os.ReadFile("readme_example_test.go")
	require.NoError(t, err)
	return readme, examples
}

// TestReadmeDescribeOutput checks that the output the README shows under
// its first Go snippet is the // Output: of Example_describe, which go
// test checks against the real run of the shapes model.
func TestReadmeDescribeOutput(t *testing.T) {
	readme, examples := readmeAndExamples(t)
	shown := regexp.MustCompile("(?s)```go\n[^`]*?\"testdata/shapes-llava\".*?```\n\nprints\n\n```\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, shown, "README: the shapes-llava snippet, then \"prints\" and its output")
	body := regexp.MustCompile(`(?s)func Example_describe\(\) \{.*?// Output:\n(.*?)\n\}`).FindSubmatch(examples)
	require.NotNil(t, body, "Example_describe with an // Output: block")
	var want []string
	for _, l := range strings.Split(string(body[1]), "\n") {
		want = append(want, strings.TrimPrefix(strings.TrimSpace(l), "// "))
	}
	require.Equal(t, strings.Join(want, "\n"), strings.TrimSpace(string(shown[1])))
}
