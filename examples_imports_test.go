package fovea

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExamplesImportPublicPackagesOnly parses every example program (not
// examples/bench, which compares kernels and may reach inside, and not the
// examples' own _test.go files, which may build fixtures with internal
// test helpers) and fails on an import of this module's internal/ packages.
func TestExamplesImportPublicPackagesOnly(t *testing.T) {
	const module = "github.com/fovea-ml/fovea"
	files, err := filepath.Glob(filepath.Join("examples", "*", "*.go"))
	require.NoError(t, err)
	checked := 0
	for _, f := range files {
		if strings.HasPrefix(filepath.ToSlash(f), "examples/bench/") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range af.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			if p == module+"/internal" || strings.HasPrefix(p, module+"/internal/") {
				t.Errorf("%s imports %s: examples must use public packages only", f, p)
			}
		}
		checked++
	}
	require.GreaterOrEqual(t, checked, 5, "found the example sources")
}
