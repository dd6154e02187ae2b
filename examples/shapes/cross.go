package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/fovea-ml/fovea/examples/shapes/internal/shapes"
	"github.com/fovea-ml/fovea/train"
)

// crossOptions are the cross (Mllama) style's knobs: the decoder's layer
// order, the text LLM's width, the extra text-pretraining rows, the
// cross stage's length and the data parallelism of the training stages.
type crossOptions struct {
	// layout is the decoder's layers in order: s a self-attention layer
	// (the LLM, frozen in the cross stage), x a gated cross-attention
	// layer ("": defaultCrossLayout).
	layout string
	// width is the decoder's hidden size (0: textWidth).
	width int
	// textExtra names the extra text-pretraining rows (extra*; "": code
	// for cross, none for unified).
	textExtra string
	// steps is the cross stage's length (0: defaultCrossSteps).
	steps int
	// replicas is train.Config.Replicas of every stage (0 or 1: one
	// graph).
	replicas int
	// logEvery prints the mean training loss every so many steps (0: off).
	logEvery int
}

// The cross style's default run (DESIGN.md, "code rows"): a gated
// cross-attention layer before each of three frozen self-attention
// layers and one after the last; text pretraining with the code rows;
// 2300 cross steps on 6000 training images, one graph (K1: 0.989
// held-out in ~270 CPU-s).
const (
	defaultCrossLayout      = "xsxsxsx"
	defaultCrossExtra       = extraCode
	defaultCrossText        = 1200
	defaultCrossSteps       = 2300
	defaultCrossTrainImages = 6000
)

// resolveCross fills f's zero cross-style settings with the style's
// defaults: the cross defaults above, or the unified recipe's (600 text
// steps).
func resolveCross(f *flags) {
	cross := f.fusion == fusionCross
	if f.budget.text == 0 {
		f.budget.text = defaultTextSteps
		if cross {
			f.budget.text = defaultCrossText
		}
	}
	if !cross {
		return
	}
	if f.cross.textExtra == "" {
		f.cross.textExtra = defaultCrossExtra
	}
	if f.cross.steps == 0 {
		f.cross.steps = defaultCrossSteps
	}
}

// parseCrossLayout is the decoder's layer count and the indices of its
// cross-attention layers of a layout ("": the default).
func parseCrossLayout(layout string) (layers int, cross []int, err error) {
	if layout == "" {
		layout = defaultCrossLayout
	}
	self := 0
	for i, c := range layout {
		switch c {
		case 's':
			self++
		case 'x':
			cross = append(cross, i)
		default:
			return 0, nil, fmt.Errorf("-cross-layout %q: letter %q, want s (self-attention) or x (cross-attention)", layout, c)
		}
	}
	if self == 0 || len(cross) == 0 {
		return 0, nil, fmt.Errorf("-cross-layout %q needs at least one s and one x", layout)
	}
	return len(layout), cross, nil
}

// Extra text-pretraining rows of the cross style (-text-extra): none;
// echo, each colour / shape / where question once more after echoPrefix
// with its attribute words as the answer; code, the same with each
// attribute word written as its digit (attributeCode), so the LM learns
// to gather the words at the answer position without learning to repeat
// them (which the captions then do).
const (
	extraNone = "none"
	extraEcho = "echo"
	extraCode = "code"
)

// echoPrefix starts an echo row's question.
const echoPrefix = "Say what is asked about: "

// attributeCode is the digit of each attribute word in a code row.
var attributeCode = map[string]string{
	"red": "1", "green": "2", "blue": "3", "yellow": "4",
	"circle": "5", "square": "6", "triangle": "7",
	"left": "8", "middle": "9", "right": "0",
}

// echoAnswer is the attribute words of q: the kind of "What colour is the
// {kind}?", the column of "What shape is on the {column}?", "{colour}
// {kind}" of "Where is the {colour} {kind}?"; as digits with code.
func echoAnswer(q string, code bool) string {
	q = strings.TrimSuffix(q, "?")
	i := strings.LastIndex(q, " the ")
	words := strings.Fields(q[i+len(" the "):])
	if !code {
		return strings.Join(words, " ")
	}
	var b strings.Builder
	for _, w := range words {
		b.WriteString(attributeCode[w])
	}
	return b.String()
}

// extraTextRows is the extra text-pretraining rows of one question.
func extraTextRows(extra, id, q string) []shapes.Row {
	if extra == extraNone || extra == "" {
		return nil
	}
	switch questionKind(q) {
	case shapes.ColourOf, shapes.ShapeAt, shapes.Where:
	default:
		return nil
	}
	return []shapes.Row{{ID: id + "-" + extra, Conversations: []shapes.Turn{
		{From: train.FromHuman, Value: echoPrefix + q}, {From: train.FromGPT, Value: echoAnswer(q, extra == extraCode)}}}}
}

// checkCross checks the cross options.
func checkCross(o crossOptions) error {
	if _, _, err := parseCrossLayout(o.layout); err != nil {
		return err
	}
	switch o.textExtra {
	case "", extraNone, extraEcho, extraCode:
	default:
		return fmt.Errorf("-text-extra %q: want %q, %q or %q", o.textExtra, extraNone, extraEcho, extraCode)
	}
	if o.width < 0 || o.width%textHeads != 0 {
		return fmt.Errorf("-text-width %d: want a multiple of %d", o.width, textHeads)
	}
	if o.steps < 0 || o.replicas < 0 || o.logEvery < 0 {
		return fmt.Errorf("-cross-steps %d, -replicas %d and -log-every %d must not be negative", o.steps, o.replicas, o.logEvery)
	}
	return nil
}

// stepLogger prints the mean loss of every `every` steps (nil when every
// is 0).
func stepLogger(log io.Writer, every int) func(train.StepInfo) {
	if every <= 0 {
		return nil
	}
	sum, n := 0.0, 0
	return func(s train.StepInfo) {
		sum, n = sum+s.Loss, n+1
		if n == every {
			fmt.Fprintf(log, "  %s step %d/%d: loss %.4f\n", s.StageName, s.Step, s.Total, sum/float64(n))
			sum, n = 0, 0
		}
	}
}
