package shapes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Split names a dataset split; each has its own random stream.
type Split string

// The splits.
const (
	Train   Split = "train"
	HeldOut Split = "heldout"
)

// stream is the PCG stream of a split, so that the same seed gives
// unrelated train and held-out scenes.
func (s Split) stream() (uint64, error) {
	switch s {
	case Train:
		return 1, nil
	case HeldOut:
		return 2, nil
	}
	return 0, fmt.Errorf("shapes: unknown split %q (have %q, %q)", s, Train, HeldOut)
}

// Scenes returns the first n scenes of split for seed.
func Scenes(seed uint64, split Split, n int) ([]Scene, error) {
	st, err := split.stream()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("shapes: negative scene count %d", n)
	}
	r := rand.New(rand.NewPCG(seed, st))
	out := make([]Scene, n)
	for i := range out {
		out[i] = Sample(r)
	}
	return out, nil
}

// ImageToken is the image placeholder of the human turn.
const ImageToken = "<image>"

// Turn is one turn of a LLaVA conversation.
type Turn struct {
	From  string `json:"from"` // "human" or "gpt"
	Value string `json:"value"`
}

// Row is one LLaVA conversation record.
type Row struct {
	ID            string `json:"id"`
	Image         string `json:"image,omitempty"` // relative to the JSONL file
	Conversations []Turn `json:"conversations"`
}

// NewRow is the row asking q about image.
func NewRow(id, image string, q QA) Row {
	return Row{ID: id, Image: image, Conversations: []Turn{
		{From: "human", Value: ImageToken + "\n" + q.Question},
		{From: "gpt", Value: q.Answer},
	}}
}

// Question is the human turn's text without the image placeholder.
func (r Row) Question() (string, error) {
	if len(r.Conversations) == 0 || r.Conversations[0].From != "human" {
		return "", fmt.Errorf("shapes: row %q: the first turn must be from \"human\"", r.ID)
	}
	v := strings.TrimPrefix(r.Conversations[0].Value, ImageToken)
	return strings.TrimPrefix(v, "\n"), nil
}

// Answer is the gpt turn's text, if the row has one.
func (r Row) Answer() (string, bool) {
	if len(r.Conversations) < 2 || r.Conversations[1].From != "gpt" {
		return "", false
	}
	return r.Conversations[1].Value, true
}

// SceneRecord is one line of a split's scene file: the image's parameters,
// so that any renderer can draw it again.
type SceneRecord struct {
	Image  string  `json:"image"`
	Shapes []Shape `json:"shapes"`
}

// Files a split writes under its directory.
func jsonlName(s Split) string  { return string(s) + ".jsonl" }
func scenesName(s Split) string { return string(s) + ".scenes.jsonl" }

// ImageName is the relative path of a split's i-th image.
func ImageName(s Split, i int) string { return fmt.Sprintf("%s/%05d.png", s, i) }

// WriteSplit renders the first n scenes of split for seed under dir:
// dir/{split}/NNNNN.png, dir/{split}.jsonl (one row per question of every
// image) and dir/{split}.scenes.jsonl (each image's parameters). It
// returns the JSONL path.
func WriteSplit(ctx context.Context, dir string, seed uint64, split Split, n int) (string, error) {
	scenes, err := Scenes(seed, split, n)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(dir, string(split)), 0o755); err != nil {
		return "", err
	}
	var rows, recs strings.Builder
	rowEnc, recEnc := json.NewEncoder(&rows), json.NewEncoder(&recs)
	rowEnc.SetEscapeHTML(false)
	for i, sc := range scenes {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		name := ImageName(split, i)
		if err := writePNG(filepath.Join(dir, name), sc); err != nil {
			return "", err
		}
		if err := recEnc.Encode(SceneRecord{Image: name, Shapes: sc.Shapes}); err != nil {
			return "", err
		}
		for j, q := range sc.Questions() {
			if err := rowEnc.Encode(NewRow(fmt.Sprintf("%s-%05d-%d", split, i, j), name, q)); err != nil {
				return "", err
			}
		}
	}
	path := filepath.Join(dir, jsonlName(split))
	if err := writeFileAtomic(path, []byte(rows.String())); err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, scenesName(split)), []byte(recs.String())); err != nil {
		return "", err
	}
	return path, nil
}

func writePNG(path string, sc Scene) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.png")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := png.Encode(f, Render(sc)); err != nil {
		f.Close()
		return fmt.Errorf("shapes: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// writeFileAtomic writes data to a temporary file beside path, then renames it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// maxLine bounds one JSONL line (a row is a few hundred bytes).
const maxLine = 1 << 20

// ReadRows reads a LLaVA JSONL file; blank lines are skipped. Errors name
// the file and line.
func ReadRows(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var rows []Row
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var r Row
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if _, err := r.Question(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line is longer than %d bytes", path, maxLine)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// MarshalText writes the kind word.
func (k Kind) MarshalText() ([]byte, error) {
	if k < 0 || k >= numKinds {
		return nil, fmt.Errorf("shapes: kind %d outside [0, %d)", int(k), numKinds)
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind word.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, v := range Kinds {
		if v.String() == string(b) {
			*k = v
			return nil
		}
	}
	return fmt.Errorf("shapes: unknown kind %q", b)
}

// MarshalText writes the colour word.
func (c Colour) MarshalText() ([]byte, error) {
	if c < 0 || c >= numColours {
		return nil, fmt.Errorf("shapes: colour %d outside [0, %d)", int(c), numColours)
	}
	return []byte(c.String()), nil
}

// UnmarshalText reads a colour word.
func (c *Colour) UnmarshalText(b []byte) error {
	for _, v := range Colours {
		if v.String() == string(b) {
			*c = v
			return nil
		}
	}
	return fmt.Errorf("shapes: unknown colour %q", b)
}

// MarshalText writes the column word.
func (c Column) MarshalText() ([]byte, error) {
	if c < Left || c > Right {
		return nil, fmt.Errorf("shapes: column %d outside [0, %d)", int(c), NumColumns)
	}
	return []byte(c.String()), nil
}

// UnmarshalText reads a column word.
func (c *Column) UnmarshalText(b []byte) error {
	for _, v := range Columns {
		if v.String() == string(b) {
			*c = v
			return nil
		}
	}
	return fmt.Errorf("shapes: unknown column %q", b)
}

// ReadSceneRecords reads a split's scene file, validating every scene.
func ReadSceneRecords(path string) ([]SceneRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []SceneRecord
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec SceneRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if err := (Scene{Shapes: rec.Shapes}).Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
