package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fovea-ml/fovea"
	"github.com/fovea-ml/fovea/internal/traintest"
)

var stepLine = regexp.MustCompile(`^step (\d+) loss (\d+\.\d{6})( |$)`)

// trainCmd runs the command and returns its step lines ("step N loss X").
func trainCmd(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), args, &out, &errb), errb.String())
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		m := stepLine.FindStringSubmatch(l)
		require.NotNil(t, m, "stdout line %q", l)
		lines = append(lines, m[0][:len("step ")+len(m[1])+len(" loss ")+len(m[2])])
	}
	return lines
}

func lossOf(t *testing.T, line string) float64 {
	f := strings.Fields(line)
	v, err := strconv.ParseFloat(f[3], 64)
	require.NoError(t, err)
	return v
}

// TestTrainCommand trains a LLaVA and an Mllama folder on the test file:
// the loss falls, the output folder loads in fovea.Load, and a run
// stopped with -stop-after and resumed prints the uninterrupted lines.
func TestTrainCommand(t *testing.T) {
	data := filepath.Join(traintest.DataDir(), "data.jsonl")
	eval := filepath.Join(traintest.DataDir(), "eval.json")
	for _, c := range []struct {
		golden, recipe string
		steps          int
	}{{"llava_tiny", "llava", 10}, {"mllama_tiny", "llava", 8}} { // stop-after 3 falls in stage 1
		t.Run(c.golden, func(t *testing.T) {
			model := traintest.Folder(t, c.golden)
			common := []string{"-model", model, "-data", data, "-recipe", c.recipe, "-steps", strconv.Itoa(c.steps),
				"-batch", "4", "-accum", "1", "-seed", "3", "-eval", eval, "-exact-match"}
			out := filepath.Join(t.TempDir(), "full")
			full := trainCmd(t, append(common, "-out", out, "-eval-every", "5")...)
			require.Len(t, full, c.steps)
			for i, l := range full {
				require.True(t, strings.HasPrefix(l, fmt.Sprintf("step %d loss ", i+1)), l)
			}
			first := (lossOf(t, full[0]) + lossOf(t, full[1])) / 2
			last := (lossOf(t, full[c.steps-1]) + lossOf(t, full[c.steps-2])) / 2
			t.Logf("%s: loss %.4f -> %.4f", c.golden, first, last)
			require.Less(t, last, first, "the loss must fall")
			m, err := fovea.Load(context.Background(), out)
			require.NoError(t, err)
			require.NotNil(t, m.Tokenizer())
			_, err = os.Stat(filepath.Join(out, "loss.png"))
			require.NoError(t, err)

			split := filepath.Join(t.TempDir(), "split")
			a := trainCmd(t, append(common, "-out", split, "-eval-every", "5", "-stop-after", "3")...)
			require.Len(t, a, 3)
			b := trainCmd(t, "-data", data, "-eval", eval, "-out", split, "-resume")
			require.Equal(t, full, append(a, b...), "stop at 3 and resume")
			var errb bytes.Buffer
			err = run(context.Background(), append(common, "-out", split), &bytes.Buffer{}, &errb)
			require.ErrorContains(t, err, "already holds a run")
		})
	}
}

// TestTrainFromScratch: a folder with config.json and a tokenizer but no
// weights starts from HF-style initial weights; the first loss is about
// ln V (uniform predictions over the vocabulary).
func TestTrainFromScratch(t *testing.T) {
	model := traintest.Folder(t, "llava_tiny")
	require.NoError(t, os.Remove(filepath.Join(model, "model.safetensors")))
	out := filepath.Join(t.TempDir(), "out")
	lines := trainCmd(t, "-model", model, "-data", filepath.Join(traintest.DataDir(), "data.jsonl"), "-out", out,
		"-recipe", "full", "-steps", "3", "-batch", "4", "-seed", "1")
	require.Len(t, lines, 3)
	require.InDelta(t, 5.95, lossOf(t, lines[0]), 0.3, "ln 384 = 5.95")
	_, err := fovea.Load(context.Background(), out)
	require.NoError(t, err)
}

// TestTrainReplicas: -replicas 2 trains as one graph does (losses to
// float32 rounding); the saved configuration keeps it, so a run stopped
// and resumed prints the uninterrupted lines.
func TestTrainReplicas(t *testing.T) {
	model := traintest.Folder(t, "llava_tiny")
	common := []string{"-model", model, "-data", filepath.Join(traintest.DataDir(), "data.jsonl"),
		"-recipe", "full", "-steps", "4", "-batch", "3", "-seed", "2"}
	one := trainCmd(t, append(common, "-out", filepath.Join(t.TempDir(), "one"))...)
	full := trainCmd(t, append(common, "-out", filepath.Join(t.TempDir(), "full"), "-replicas", "2")...)
	require.Len(t, full, 4)
	for i := range one {
		require.InDelta(t, lossOf(t, one[i]), lossOf(t, full[i]), 1e-4, "step %d", i+1)
	}
	split := filepath.Join(t.TempDir(), "split")
	a := trainCmd(t, append(common, "-out", split, "-replicas", "2", "-stop-after", "2")...)
	b := trainCmd(t, "-data", filepath.Join(traintest.DataDir(), "data.jsonl"), "-out", split, "-resume")
	require.Equal(t, full, append(a, b...), "stop at 2 and resume")
}
