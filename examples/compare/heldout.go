package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fovea-ml/fovea/train"
)

// record is one LLaVA conversation record as the held-out file and the
// train package read it.
type record struct {
	ID            string       `json:"id"`
	Image         any          `json:"image,omitempty"` // a path, or a list of paths
	Conversations []train.Turn `json:"conversations"`
}

// heldRow is one held-out question with its expected answer.
type heldRow struct {
	line     int
	id       string
	images   []string // paths resolved against the file's folder
	question string   // the human turn without its <image> markers
	answer   string
}

// imageMarker is LLaVA's placeholder in a human turn.
const imageMarker = "<image>"

// maxLine bounds one JSONL line of the held-out file.
const maxLine = 1 << 20

// readRows reads the first limit rows (0: all) of a LLaVA JSONL file whose
// rows are one question with its answer each.
func readRows(path string, limit int) ([]heldRow, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("held-out file: %w (go run ./examples/shapes -data-only -train-images 1 -out DIR writes DIR/data/heldout.jsonl)", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var rows []heldRow
	for n := 1; sc.Scan() && (limit == 0 || len(rows) < limit); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		row, err := parseRow(filepath.Dir(path), line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		row.line = n
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s has no rows", path)
	}
	return rows, nil
}

func parseRow(dir, line string) (heldRow, error) {
	var rec record
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		return heldRow{}, err
	}
	var paths []string
	switch v := rec.Image.(type) {
	case nil:
	case string:
		paths = []string{v}
	case []any:
		for _, p := range v {
			s, ok := p.(string)
			if !ok {
				return heldRow{}, fmt.Errorf("image list holds %v, want paths", p)
			}
			paths = append(paths, s)
		}
	default:
		return heldRow{}, fmt.Errorf("image is %v, want a path or a list of paths", v)
	}
	c := rec.Conversations
	if len(c) != 2 || c[0].From != train.FromHuman || c[1].From != train.FromGPT {
		return heldRow{}, fmt.Errorf("want one %s turn and one %s turn (the expected answer)", train.FromHuman, train.FromGPT)
	}
	if m := strings.Count(c[0].Value, imageMarker); m != len(paths) {
		return heldRow{}, fmt.Errorf("%d %s markers for %d images", m, imageMarker, len(paths))
	}
	row := heldRow{id: rec.ID, answer: c[1].Value,
		question: strings.TrimSpace(strings.ReplaceAll(c[0].Value, imageMarker, ""))}
	for _, p := range paths {
		row.images = append(row.images, filepath.Join(dir, filepath.FromSlash(p)))
	}
	return row, nil
}

// The question kinds of the shapes world (shared/notes/shapes-world.md),
// in the table's order, and the question each starts with.
var questionKinds = []struct{ name, prefix string }{
	{"count", "How many"},
	{"colour", "What colour"},
	{"shape", "What shape"},
	{"where", "Where is"},
	{"describe", "Describe"},
}

// otherKind holds questions outside the spec's five templates.
const otherKind = "other"

func questionKind(q string) string {
	for _, k := range questionKinds {
		if strings.HasPrefix(q, k.prefix) {
			return k.name
		}
	}
	return otherKind
}

// normalize is an answer as the spec compares it: lower case, surrounding
// white space trimmed, one trailing full stop removed.
func normalize(a string) string {
	a = strings.TrimSuffix(strings.TrimSpace(a), ".")
	return strings.ToLower(strings.TrimSpace(a))
}

// score counts exact matches.
type score struct{ right, n int }

func (s *score) add(ok bool) {
	s.n++
	if ok {
		s.right++
	}
}

func (s score) rate() float64 { return float64(s.right) / float64(s.n) }

// sameQuestionRows writes, under work, a training file of the first n
// one-image rows that ask the held-out file's most frequent question (its
// images copied beside it) and loads it.
func sameQuestionRows(work, heldout string, rows []heldRow, n int) (*train.Dataset, error) {
	count := map[string]int{}
	best := ""
	for _, r := range rows {
		if len(r.images) != 1 {
			continue
		}
		count[r.question]++
		if count[r.question] > count[best] {
			best = r.question
		}
	}
	if count[best] < n {
		return nil, fmt.Errorf("%s: training steps of -batch %d rows need %d one-image rows with one question; the most frequent has %d",
			heldout, n, n, count[best])
	}
	dir := filepath.Join(work, "train-data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var recs []record
	for _, r := range rows {
		if len(recs) == n {
			break
		}
		if len(r.images) != 1 || r.question != best {
			continue
		}
		img, err := os.ReadFile(r.images[0])
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%03d%s", len(recs), filepath.Ext(r.images[0]))
		if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
			return nil, err
		}
		recs = append(recs, record{ID: r.id, Image: name, Conversations: []train.Turn{
			{From: train.FromHuman, Value: imageMarker + "\n" + r.question}, {From: train.FromGPT, Value: r.answer}}})
	}
	path := filepath.Join(dir, "rows.jsonl")
	if err := writeJSONL(path, recs); err != nil {
		return nil, err
	}
	return train.LoadDataset(path, train.DataOptions{})
}
