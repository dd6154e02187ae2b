package fovea

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutsideModule builds testdata/outside/main.go as a module of its own
// (go.mod with a replace directive pointing here) and runs it on the tiny
// models: it can only use what an outside program can name. It needs the
// go command and the module cache the repository itself builds from.
func TestOutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a separate module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "outside", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644))
	gomod := "module example.com/outside\n\ngo 1.26.0\n\nrequire github.com/fovea-ml/fovea v0.0.0\n\nreplace github.com/fovea-ml/fovea => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	sum, err := os.ReadFile("go.sum")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))

	llava := tinyFolder(t, "llava_tiny", 384)
	llama := filepath.Join(root, "testdata", "llama_tiny")
	bin := filepath.Join(dir, "outside")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	run := exec.Command(bin, llava, llama, filepath.Join(root, "testdata", "llava_tiny_2img", "image.png"), filepath.Join(root, "testdata", "llava_tiny_2img", "image2.png"))
	out, err = run.CombinedOutput()
	require.NoError(t, err, "outside: %s", out)
	got := string(out)
	t.Logf("outside program:\n%s", got)
	require.Contains(t, got, "turn 0: tokens=")
	require.Contains(t, got, "turn 1: tokens=")
	require.NotContains(t, got, "turn 1: tokens=0")
	require.Contains(t, got, "finish=")
	require.Regexp(t, `turn 1: tokens=\d+ finish=\S+ prompt=\d+ cached=[1-9]`, got, "the follow-up reuses the session cache")
	require.Contains(t, got, "same=true pooled")
	require.Regexp(t, `reloaded \[1 \d+ 384\] same=true`, got, "the saved folder loads back to the same logits")
	require.Contains(t, got, "composed [1 3 384] same=true")
	require.Equal(t, 5, strings.Count(got, "\n"))
}
