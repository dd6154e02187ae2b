package fovea

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeDescribeOutput checks that the output the README shows under
// its first Go snippet is the // Output: of Example_describe, which go
// test checks against the real run of the shapes model.
func TestReadmeDescribeOutput(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	examples, err := os.ReadFile("readme_example_test.go")
	require.NoError(t, err)
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
