package weights

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/internal/tensor"
)

const (
	// tagKey is the struct tag that names checkpoint tensors and prefixes.
	tagKey = "weight"
	// optOptional marks a tensor (or nested pointer) that may be absent.
	optOptional = "optional"
	// optTiedPrefix marks a tensor filled from another one when absent.
	optTiedPrefix = "tied="
	// sep joins name segments, as in HF state dicts.
	sep = "."
)

var tensorPtrType = reflect.TypeOf((*tensor.Tensor)(nil))

// field is one tagged tensor field found by the walker.
type field struct {
	name     string // checkpoint name relative to the walk root
	ptr      **tensor.Tensor
	optional bool
	tied     string // relative name of the tie target, "" if untied
	goPath   string // Go field path, for model-definition errors
}

// tagSpec is a parsed `weight:"..."` tag.
type tagSpec struct {
	name     string
	optional bool
	tied     string
}

func parseTag(tag, goPath string) (tagSpec, error) {
	parts := strings.Split(tag, ",")
	ts := tagSpec{name: parts[0]}
	for _, p := range parts[1:] {
		switch {
		case p == optOptional:
			ts.optional = true
		case strings.HasPrefix(p, optTiedPrefix) && len(p) > len(optTiedPrefix):
			ts.tied = p[len(optTiedPrefix):]
		default:
			return ts, fmt.Errorf("weights: field %s: unknown tag option %q in `%s:%q`", goPath, p, tagKey, tag)
		}
	}
	return ts, nil
}

// collect walks model (a non-nil pointer to a struct) and returns every
// tagged tensor field in declaration order, with names relative to it.
func collect(model any) ([]field, error) {
	v := reflect.ValueOf(model)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("weights: model must be a non-nil pointer to a struct, got %T", model)
	}
	var out []field
	err := walkStruct(v.Elem(), "", v.Elem().Type().Name(), &out)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]string, len(out))
	for _, f := range out {
		if prev, dup := seen[f.name]; dup {
			return nil, fmt.Errorf("weights: fields %s and %s both claim tensor %q", prev, f.goPath, f.name)
		}
		seen[f.name] = f.goPath
	}
	return out, nil
}

// walkStruct visits the tagged fields of struct value s; prefix ends in
// sep or is empty.
func walkStruct(s reflect.Value, prefix, goPath string, out *[]field) error {
	t := s.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup(tagKey)
		if !ok || tag == "-" {
			continue
		}
		fp := goPath + sep + sf.Name
		if !sf.IsExported() {
			return fmt.Errorf("weights: field %s is tagged %q but unexported", fp, tag)
		}
		ts, err := parseTag(tag, fp)
		if err != nil {
			return err
		}
		if err := walkValue(s.Field(i), ts, prefix, fp, out); err != nil {
			return err
		}
	}
	return nil
}

// walkValue visits one tagged value: a tensor pointer, a struct, a
// pointer to a struct, or a slice/array of any of these.
func walkValue(v reflect.Value, ts tagSpec, prefix, goPath string, out *[]field) error {
	if v.Type() == tensorPtrType {
		if ts.name == "" {
			return fmt.Errorf("weights: tensor field %s has an empty name in its tag", goPath)
		}
		*out = append(*out, field{
			name:     prefix + ts.name,
			ptr:      v.Addr().Interface().(**tensor.Tensor),
			optional: ts.optional,
			tied:     ts.tied,
			goPath:   goPath,
		})
		return nil
	}
	if ts.tied != "" {
		return fmt.Errorf("weights: field %s: tied= only applies to *tensor.Tensor fields", goPath)
	}
	sub := prefix
	if ts.name != "" {
		sub = prefix + ts.name + sep
	}
	switch v.Kind() {
	case reflect.Struct:
		return walkStruct(v, sub, goPath, out)
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.Struct {
			break
		}
		if v.IsNil() {
			if ts.optional {
				return nil
			}
			return fmt.Errorf("weights: field %s is a nil %s (allocate it in the constructor or tag it optional)", goPath, v.Type())
		}
		return walkStruct(v.Elem(), sub, goPath, out)
	case reflect.Slice, reflect.Array:
		if ts.name == "" {
			return fmt.Errorf("weights: slice field %s needs a name in its tag", goPath)
		}
		if et := v.Type().Elem(); et != tensorPtrType && et.Kind() != reflect.Struct &&
			(et.Kind() != reflect.Pointer || et.Elem().Kind() != reflect.Struct) {
			break
		}
		for j := 0; j < v.Len(); j++ {
			el := tagSpec{name: strconv.Itoa(j), optional: ts.optional}
			if err := walkValue(v.Index(j), el, sub, goPath+"["+strconv.Itoa(j)+"]", out); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("weights: field %s has type %s; tagged fields must be *tensor.Tensor, structs, pointers to structs, or slices of these", goPath, v.Type())
}

// Walk visits every tagged tensor field of model (a pointer to a struct)
// in declaration order, with its full checkpoint name (relative to the
// model: no Bind prefix), a pointer to the field, and whether it is
// optional. A tied field whose tensor is shared with its target is visited
// under both names; callers listing parameters should deduplicate by
// pointer. Walk stops at the first error fn returns.
func Walk(model any, fn func(name string, t **tensor.Tensor, optional bool) error) error {
	fields, err := collect(model)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if err := fn(f.name, f.ptr, f.optional); err != nil {
			return err
		}
	}
	return nil
}
