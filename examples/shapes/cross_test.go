package main

import (
	"io"
	"testing"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/train"
	"github.com/stretchr/testify/require"
)

func TestParseCrossLayout(t *testing.T) {
	n, cross, err := parseCrossLayout("xsxsxsx")
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Equal(t, []int{0, 2, 4, 6}, cross)
	n, cross, err = parseCrossLayout("")
	require.NoError(t, err)
	require.Equal(t, len(defaultCrossLayout), n)
	require.NotEmpty(t, cross)
	for _, bad := range []string{"sss", "xx", "sxq"} {
		_, _, err := parseCrossLayout(bad)
		require.Error(t, err, bad)
	}
}

// The extra text rows: the attribute words of the colour, shape and where
// questions (as words or digits), none for count and describe.
func TestExtraTextRows(t *testing.T) {
	for _, c := range []struct{ q, echo, code string }{
		{"What colour is the triangle?", "triangle", "7"},
		{"What shape is on the middle?", "middle", "9"},
		{"Where is the yellow circle?", "yellow circle", "45"},
	} {
		for extra, want := range map[string]string{extraEcho: c.echo, extraCode: c.code} {
			rows := extraTextRows(extra, "r1", c.q)
			require.Len(t, rows, 1)
			require.Equal(t, "r1-"+extra, rows[0].ID)
			require.Equal(t, []shapes.Turn{{From: train.FromHuman, Value: echoPrefix + c.q}, {From: train.FromGPT, Value: want}},
				rows[0].Conversations)
		}
		require.Empty(t, extraTextRows(extraNone, "r1", c.q))
	}
	for _, q := range []string{"How many shapes are there?", "Describe the image."} {
		require.Empty(t, extraTextRows(extraCode, "r1", q))
	}
	// Every word a question can ask about has its own digit.
	seen := map[string]bool{}
	for _, d := range attributeCode {
		require.Len(t, d, 1)
		require.False(t, seen[d], d)
		seen[d] = true
	}
}

func TestCrossFlags(t *testing.T) {
	out := t.TempDir()
	for _, bad := range []crossOptions{{layout: "ss"}, {textExtra: "caption"}, {width: 30}, {steps: -1}, {replicas: -1}} {
		f := flags{fusion: fusionCross, out: out, trainImages: 1, heldOutImages: 1, budget: tinyBudget, cross: bad}
		require.Error(t, run(t.Context(), io.Discard, f), "%+v", bad)
	}
	f := flags{fusion: fusionCross}
	resolveCross(&f)
	require.Equal(t, crossOptions{textExtra: defaultCrossExtra, steps: defaultCrossSteps}, f.cross)
	require.Equal(t, defaultCrossText, f.budget.text)
	u := flags{fusion: fusionUnified}
	resolveCross(&u)
	require.Equal(t, crossOptions{}, u.cross)
	require.Equal(t, defaultTextSteps, u.budget.text)
}
