package weights

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fovea-ml/fovea/internal/safetensors"
	"github.com/fovea-ml/fovea/internal/tensor"
)

// Source is what the binder reads from. *safetensors.File satisfies it.
type Source interface {
	Names() []string
	Info(name string) (safetensors.TensorInfo, bool)
	Float32(name string) (*tensor.Tensor, error)
}

// float32Into is the optional fast path of a Source: decode straight into
// a pre-allocated buffer (*safetensors.File has it).
type float32Into interface {
	Float32Into(name string, dst []float32) error
}

// Option configures a Binder.
type Option func(*options)

type options struct {
	rename          func(string) string
	ignore          []string
	allowUnexpected bool
	reportAll       bool
}

// Rename maps every checkpoint name once, when the Binder is created;
// fields are matched against the renamed names (e.g. to accept an old HF
// naming scheme). Two names renamed to the same name is an error.
func Rename(fn func(checkpointName string) string) Option {
	return func(o *options) { o.rename = fn }
}

// Ignore lists prefixes of (renamed) checkpoint names that are known and
// deliberately unused: they are never reported as unexpected.
func Ignore(prefixes ...string) Option {
	return func(o *options) { o.ignore = append(o.ignore, prefixes...) }
}

// ReportAll makes Finish report every unclaimed, unignored checkpoint
// tensor as unexpected, not only those under a bound prefix: what a
// loader that binds a whole checkpoint wants (a stray "foo.weight" at the
// root would otherwise pass unnoticed).
func ReportAll() Option {
	return func(o *options) { o.reportAll = true }
}

// AllowUnexpected disables the unexpected-tensor check entirely.
func AllowUnexpected() Option {
	return func(o *options) { o.allowUnexpected = true }
}

// BindError lists everything wrong with one binding, each list sorted.
type BindError struct {
	// Missing are required tensors the checkpoint lacks.
	Missing []string
	// Unexpected are checkpoint tensors under a bound prefix that no field
	// claims and no Ignore prefix covers.
	Unexpected []string
	// Mismatched are "name: want [..], got [..]" shape disagreements.
	Mismatched []string
	// Other are model-definition and load errors (nil fields, bad dtypes,
	// rename collisions), each naming the field or tensor.
	Other []string
}

func (e *BindError) empty() bool {
	return len(e.Missing)+len(e.Unexpected)+len(e.Mismatched)+len(e.Other) == 0
}

// Error lists every problem, grouped and sorted.
func (e *BindError) Error() string {
	var b strings.Builder
	b.WriteString("weights: bind failed:")
	group := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n  %d %s:", len(items), title)
		for _, s := range items {
			b.WriteString("\n    ")
			b.WriteString(s)
		}
	}
	group("missing", e.Missing)
	group("unexpected", e.Unexpected)
	group("shape mismatch", e.Mismatched)
	group("other errors", e.Other)
	return b.String()
}

// Binder fills several models (each under its own prefix) from one Source
// and reports all problems together in Finish.
type Binder struct {
	src      Source
	opts     options
	byName   map[string]string // renamed name -> source name
	claimed  map[string]bool   // renamed names claimed by some field
	prefixes []string          // prefixes bound so far
	errs     BindError
}

// NewBinder prepares a Binder over src. Rename is applied here, once.
func NewBinder(src Source, opts ...Option) *Binder {
	b := &Binder{src: src, claimed: map[string]bool{}}
	for _, o := range opts {
		o(&b.opts)
	}
	names := src.Names()
	b.byName = make(map[string]string, len(names))
	for _, n := range names {
		r := n
		if b.opts.rename != nil {
			r = b.opts.rename(n)
		}
		if prev, dup := b.byName[r]; dup {
			b.errs.Other = append(b.errs.Other, fmt.Sprintf("checkpoint tensors %q and %q both rename to %q", prev, n, r))
			continue
		}
		b.byName[r] = n
	}
	return b
}

// Bind fills every tagged tensor field of model (a pointer to a struct)
// from the tensors named prefix+fieldName. Data goes into the
// pre-allocated tensors, so callers' pointers stay valid; a tensor with
// nil Data gets a fresh buffer. Shapes are checked against the
// pre-allocated Shape. Missing, mismatched and load problems are recorded
// for Finish; the returned error is non-nil only when model itself cannot
// be walked (not a struct pointer, a nil sub-struct, a bad tag), and that
// error is recorded for Finish as well.
func (b *Binder) Bind(prefix string, model any) error {
	fields, err := collect(model)
	if err != nil {
		b.errs.Other = append(b.errs.Other, err.Error())
		return err
	}
	b.prefixes = append(b.prefixes, prefix)
	byRel := make(map[string]*field, len(fields))
	for i := range fields {
		byRel[fields[i].name] = &fields[i]
	}
	var tied []*field
	for i := range fields {
		f := &fields[i]
		full := prefix + f.name
		if _, present := b.byName[full]; !present && f.tied != "" {
			tied = append(tied, f)
			continue
		}
		b.bindField(f, full)
	}
	// Tied fields whose own tensor is absent: share the target's tensor
	// object when a field holds it, else load the target's tensor.
	for _, f := range tied {
		target := prefix + f.tied
		if tf, ok := byRel[f.tied]; ok && tf.tied == "" {
			b.claimed[target] = true
			if *tf.ptr == nil {
				b.errs.Missing = append(b.errs.Missing, fmt.Sprintf("%s (tied to %s)", prefix+f.name, target))
				continue
			}
			if want := *f.ptr; want != nil && !tensor.SameShape(want.Shape, (*tf.ptr).Shape) {
				b.errs.Mismatched = append(b.errs.Mismatched,
					fmt.Sprintf("%s (tied to %s): want %v, got %v", prefix+f.name, target, want.Shape, (*tf.ptr).Shape))
				continue
			}
			*f.ptr = *tf.ptr
			continue
		}
		if _, present := b.byName[target]; !present {
			if !f.optional {
				b.errs.Missing = append(b.errs.Missing, fmt.Sprintf("%s (or its tie target %s)", prefix+f.name, target))
			} else {
				*f.ptr = nil
			}
			continue
		}
		b.bindField(f, target)
	}
	return nil
}

// bindField loads the checkpoint tensor full (a renamed name) into f.
func (b *Binder) bindField(f *field, full string) {
	srcName, present := b.byName[full]
	if !present {
		if f.optional {
			*f.ptr = nil
			return
		}
		b.errs.Missing = append(b.errs.Missing, full)
		return
	}
	b.claimed[full] = true
	dst := *f.ptr
	if dst == nil && !f.optional && f.tied == "" {
		b.errs.Other = append(b.errs.Other,
			fmt.Sprintf("field %s (tensor %s) is nil: the constructor must allocate it with its expected shape (or tag it optional)", f.goPath, full))
		return
	}
	info, _ := b.src.Info(srcName)
	if dst != nil && !tensor.SameShape(dst.Shape, info.Shape) {
		b.errs.Mismatched = append(b.errs.Mismatched, fmt.Sprintf("%s: want %v, got %v", full, dst.Shape, info.Shape))
		return
	}
	if dst == nil {
		t, err := b.src.Float32(srcName)
		if err != nil {
			b.errs.Other = append(b.errs.Other, fmt.Sprintf("%s: %v", full, err))
			return
		}
		*f.ptr = t
		return
	}
	n := tensor.Numel(dst.Shape)
	if dst.Data != nil && len(dst.Data) != n {
		b.errs.Other = append(b.errs.Other,
			fmt.Sprintf("field %s (tensor %s) has shape %v but %d values allocated", f.goPath, full, dst.Shape, len(dst.Data)))
		return
	}
	if dst.Data == nil {
		dst.Data = make([]float32, n)
	}
	if fi, ok := b.src.(float32Into); ok {
		if err := fi.Float32Into(srcName, dst.Data); err != nil {
			b.errs.Other = append(b.errs.Other, fmt.Sprintf("%s: %v", full, err))
		}
		return
	}
	t, err := b.src.Float32(srcName)
	if err != nil {
		b.errs.Other = append(b.errs.Other, fmt.Sprintf("%s: %v", full, err))
		return
	}
	if len(t.Data) != n {
		b.errs.Other = append(b.errs.Other, fmt.Sprintf("%s: source returned %d values for shape %v", full, len(t.Data), dst.Shape))
		return
	}
	copy(dst.Data, t.Data)
}

// Unclaimed lists the (renamed) checkpoint names that no bound field has
// claimed and no Ignore prefix covers, across the whole Source, sorted.
func (b *Binder) Unclaimed() []string {
	var out []string
	for r := range b.byName {
		if !b.claimed[r] && !b.ignored(r) {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func (b *Binder) ignored(name string) bool {
	for _, p := range b.opts.ignore {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Finish reports, as one *BindError, every problem recorded by the Bind
// calls plus every unclaimed, unignored checkpoint tensor under any bound
// prefix (anywhere with ReportAll; none with AllowUnexpected). It returns
// nil when all is well.
func (b *Binder) Finish() error {
	e := BindError{
		Missing:    append([]string(nil), b.errs.Missing...),
		Mismatched: append([]string(nil), b.errs.Mismatched...),
		Other:      append([]string(nil), b.errs.Other...),
	}
	if !b.opts.allowUnexpected {
		for _, n := range b.Unclaimed() {
			if b.opts.reportAll {
				e.Unexpected = append(e.Unexpected, n)
				continue
			}
			for _, p := range b.prefixes {
				if strings.HasPrefix(n, p) {
					e.Unexpected = append(e.Unexpected, n)
					break
				}
			}
		}
	}
	if e.empty() {
		return nil
	}
	sort.Strings(e.Missing)
	sort.Strings(e.Unexpected)
	sort.Strings(e.Mismatched)
	sort.Strings(e.Other)
	return &e
}

// Bind fills model from src under prefix (e.g. "model."; "" for none) and
// reports every problem in one *BindError: the one-shot form of
// NewBinder(src, opts...).Bind(prefix, model) followed by Finish.
func Bind(src Source, prefix string, model any, opts ...Option) error {
	b := NewBinder(src, opts...)
	_ = b.Bind(prefix, model) // recorded; Finish reports it
	return b.Finish()
}
