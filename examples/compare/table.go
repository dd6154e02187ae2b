package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/train"
)

// dash is a cell that does not apply or was not measured.
const dash = "—"

// table renders the report: the Markdown table, then its notes.
func (r *report) table() string {
	var b strings.Builder
	row := func(label string, cells ...string) {
		fmt.Fprintf(&b, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	row("", styleNames[unified], styleNames[cross])
	row("---", "---", "---")
	u, x := r.cols[unified], r.cols[cross]

	// Parameters.
	row("parameters, whole model", count(u.params), count(x.params))
	row("parameters, language model", count(u.llmParams), count(x.llmParams))
	row("parameters, text-pretrained LLM", textParams(u), textParams(x))
	row("parameters the style adds to the LLM", u.added(), x.added())
	row("trained in stage 1 (LLM frozen)", trainedCell(u.trained[0]), dash)
	row("trained in stage 2", trainedCell(u.trained[1]), dash)
	row("trained in the cross stage (LLM frozen)", dash, trainedCell(x.trained[0]))

	// Context and prefill.
	for _, n := range r.f.images {
		row(fmt.Sprintf("context, %s (tokens)", images(n)), u.contextCell(n), x.contextCell(n))
	}
	for _, n := range r.f.images {
		row(fmt.Sprintf("prefill, %s (ms)", images(n)), u.prefillCell(n, false), x.prefillCell(n, false))
	}
	for _, n := range r.f.images {
		row(fmt.Sprintf("prefill from image features, %s (ms)", images(n)), u.prefillCell(n, true), x.prefillCell(n, true))
	}

	// Training time.
	row("training, stage 1 (ms per row)", ms(u.stageMs[0]), dash)
	row("training, stage 2 (ms per row)", ms(u.stageMs[1]), dash)
	row("training, cross stage (ms per row)", dash, ms(x.stageMs[0]))

	// Held-out accuracy.
	kinds := make([]string, 0, len(questionKinds)+1)
	for _, k := range questionKinds {
		kinds = append(kinds, k.name)
	}
	kinds = append(kinds, otherKind)
	for _, k := range kinds {
		if u.acc[k] == nil {
			continue
		}
		row(fmt.Sprintf("held-out accuracy, %s (%d)", k, u.acc[k].n), rate(u.acc[k]), rate(x.acc[k]))
	}
	row(fmt.Sprintf("held-out accuracy, all (%d)", u.all.n), rate(&u.all), rate(&x.all))

	// Text-only behaviour.
	row("text-only logits, max \\|Δ\\| to the text-pretrained LLM", u.deltaCell(), x.deltaCell())
	row("text-only held-out loss, text-pretrained LLM", u.lossCell(u.lossBefore), x.lossCell(x.lossBefore))
	row("text-only held-out loss, trained model", u.lossCell(u.lossAfter), x.lossCell(x.lossAfter))
	row("text-only held-out loss, change", u.moved(), x.moved())

	b.WriteString("\n")
	fmt.Fprintf(&b, "- models: %s (unified), %s (cross); held-out: %d rows of %s\n", u.dir, x.dir, r.heldout, r.f.heldout)
	fmt.Fprintf(&b, "- context: the positions the decoder runs for %q with the images (in brackets the image positions among them; a cross-attention model's image states are the keys and values of its cross-attention layers, outside the context); prefill: from the call to the first token, image encoding included (from image features: EncodeImages' output passed in, the language model alone), best of %d runs, the two models in turn\n",
		r.f.question, r.f.reps)
	fmt.Fprintf(&b, "- training: %d rows of one question per step, the best of %d steps after one warm-up step (the stages step in turn), divided by the rows; trained parameters as train counts them\n",
		r.f.batch, r.f.steps)
	textNote := "- text-only: the held-out questions and answers without images"
	if c := max(u.textPrompts, x.textPrompts); c > 0 {
		textNote += fmt.Sprintf(" (%d distinct conversations)", c)
	}
	b.WriteString(textNote + "; loss: mean cross-entropy per answer token as train evaluates it\n")
	for _, n := range r.notes {
		b.WriteString("- " + n + "\n")
	}
	return b.String()
}

func images(n int) string {
	if n == 1 {
		return "1 image"
	}
	return strconv.Itoa(n) + " images"
}

// count writes n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ms(v float64) string { return fmt.Sprintf("%.2f", v) }

func rate(s *score) string {
	if s == nil || s.n == 0 {
		return dash
	}
	return fmt.Sprintf("%.3f", s.rate())
}

func textParams(c *column) string {
	if !c.hasText {
		return dash
	}
	return count(c.textParams)
}

// groupNames are the groups' names in the table.
var groupNames = map[train.Group]string{
	train.Vision: "vision encoder", train.Projector: "projector", train.Decoder: "LLM", train.CrossAttn: "cross-attention layers",
}

// trainedCell is a stage's trained parameters, with the groups.
func trainedCell(t map[train.Group]int) string {
	total := 0
	var parts []string
	for _, g := range train.Groups() {
		if n := t[g]; n > 0 {
			total += n
			parts = append(parts, groupNames[g]+" "+count(n))
		}
	}
	if total == 0 {
		return dash
	}
	if len(parts) == 1 {
		return fmt.Sprintf("%s (%s)", count(total), strings.TrimSuffix(parts[0], " "+count(total)))
	}
	return fmt.Sprintf("%s (%s)", count(total), strings.Join(parts, " + "))
}

// added is what the style adds to the language model: the fused model's
// language-model parameters minus the text-pretrained LLM's (without that
// folder: minus train's decoder group, which the style's own layers are
// not part of), with the cross-attention layers named.
func (c *column) added() string {
	crossAttn := 0
	for _, t := range c.trained {
		crossAttn = max(crossAttn, t[train.CrossAttn])
	}
	var n int
	switch {
	case c.hasText:
		n = c.llmParams - c.textParams
	case c.trained[1][train.Decoder] > 0:
		n = c.llmParams - c.trained[1][train.Decoder]
	default:
		n = crossAttn
	}
	if n == 0 {
		return "0 (the LLM is unchanged)"
	}
	s := count(n)
	var parts []string
	if crossAttn > 0 {
		parts = append(parts, "cross-attention layers "+count(crossAttn))
	}
	rest := n - crossAttn
	if c.embedExtra > 0 && rest >= c.embedExtra {
		parts = append(parts, "image-token embeddings "+count(c.embedExtra))
		rest -= c.embedExtra
	}
	if rest != 0 {
		parts = append(parts, "other "+count(rest))
	}
	if len(parts) == 1 { // one part: its name alone
		return s + " (" + strings.TrimSuffix(parts[0], " "+s) + ")"
	}
	return s + " (" + strings.Join(parts, " + ") + ")"
}

func (c *column) contextCell(n int) string {
	run, ok := c.context[n]
	switch {
	case !ok:
		return dash
	case run.limit != "":
		return "does not run (note)"
	case run.states > 0:
		return fmt.Sprintf("%d (+ %d image states)", run.tokens, run.states)
	}
	return fmt.Sprintf("%d (%d image)", run.tokens, run.imagePos)
}

func (c *column) prefillCell(n int, features bool) string {
	run, ok := c.context[n]
	if !ok || run.limit != "" {
		return dash
	}
	d := run.prefill
	if features {
		d = run.decoder
	}
	return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000)
}

func (c *column) deltaCell() string {
	switch {
	case !c.hasText:
		return dash
	case c.maxDelta == 0:
		return "0 (bit for bit)"
	}
	return fmt.Sprintf("%.3g", c.maxDelta)
}

func (c *column) lossCell(v float64) string {
	if !c.hasText {
		return dash
	}
	return fmt.Sprintf("%.4f", v)
}

func (c *column) moved() string {
	if !c.hasText {
		return dash
	}
	d := c.lossAfter - c.lossBefore
	if d == 0 {
		return "0"
	}
	return fmt.Sprintf("%+.4f (%+.1f %%)", d, 100*d/c.lossBefore)
}
