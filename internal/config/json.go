package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error this package returns for a config
// that is malformed, of the wrong type, or fails validation.
var ErrInvalid = errors.New("invalid config")

// KeyError reports a problem with one key of a config file. Key is the dotted
// path from the file's root, e.g. "text_config.rope_scaling.factor".
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("config: %v", e.Err)
	}
	return fmt.Sprintf("config: key %q: %v", e.Key, e.Err)
}

// Unwrap lets errors.Is(err, ErrInvalid) succeed.
func (e *KeyError) Unwrap() []error { return []error{e.Err, ErrInvalid} }

// prefixKey puts prefix in front of the key named by err (if any); errors
// that do not name a key are attributed to prefix itself.
func prefixKey(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		key := prefix
		if ke.Key != "" {
			key = prefix + "." + ke.Key
		}
		return &KeyError{Key: key, Err: ke.Err}
	}
	return &KeyError{Key: prefix, Err: err}
}

// decodeInto unmarshals data into v (a pointer to an aux struct) and turns
// encoding/json's errors into *KeyError naming the offending key.
func decodeInto(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "an integer or a list of integers"
		if te.Type != reflect.TypeFor[IntList]() {
			want = jsonTypeName(te.Type.Kind())
		}
		return &KeyError{Key: cleanField(te.Field), Err: fmt.Errorf("wrong type: JSON %s where %s expected", te.Value, want)}
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return err
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("config: malformed JSON at byte %d: %v: %w", se.Offset, se, ErrInvalid)
	}
	return fmt.Errorf("config: %v: %w", err, ErrInvalid)
}

// auxEmbedName is the name of the embedded struct every aux decoder uses;
// encoding/json includes it in UnmarshalTypeError.Field paths.
const auxEmbedName = "plain"

// cleanField drops the aux struct's embedded-field name from a json key path.
func cleanField(field string) string {
	parts := strings.Split(field, ".")
	kept := parts[:0]
	for _, p := range parts {
		if p != auxEmbedName {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

func jsonTypeName(kind reflect.Kind) string {
	switch kind {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	}
	return kind.String()
}

var jsonNull = []byte("null")

func isNull(data []byte) bool { return bytes.Equal(bytes.TrimSpace(data), jsonNull) }

// IntList is a JSON value that HF allows to be either one integer or a list
// of integers (e.g. vision_feature_layer). null decodes to nil.
type IntList []int

// intListTypeError is what IntList/TokenIDs report for a bad value; it is a
// *json.UnmarshalTypeError so that encoding/json attaches the key path.
func intListTypeError(what string) error {
	return &json.UnmarshalTypeError{Value: what, Type: reflect.TypeFor[IntList]()}
}

// UnmarshalJSON accepts null, an integer, or a list of integers. Integral
// floats such as 2.0 are accepted; fractions, strings and values outside the
// int32 range are not.
func (l *IntList) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if isNull(data) {
		*l = nil
		return nil
	}
	if len(data) == 0 {
		return intListTypeError("nothing")
	}
	switch data[0] {
	case '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return intListTypeError("array")
		}
		if len(raw) == 0 {
			*l = nil
			return nil
		}
		out := make([]int, len(raw))
		for i, r := range raw {
			v, ok := toInt(r)
			if !ok {
				return intListTypeError(fmt.Sprintf("element %d = %.40s", i, r))
			}
			out[i] = v
		}
		*l = out
		return nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		v, ok := toInt(data)
		if !ok {
			return intListTypeError(fmt.Sprintf("number %.40s", data))
		}
		*l = IntList{v}
		return nil
	}
	return intListTypeError(fmt.Sprintf("%.40s", data))
}

// TokenIDs is a token id field that HF allows to be one id or a list of ids
// (eos_token_id). null decodes to nil.
type TokenIDs []int

// UnmarshalJSON accepts null, an integer, or a list of integers.
func (t *TokenIDs) UnmarshalJSON(data []byte) error {
	var l IntList
	if err := l.UnmarshalJSON(data); err != nil {
		return err
	}
	*t = TokenIDs(l)
	return nil
}

// MarshalJSON writes a single id as a plain integer, several as a list.
func (t TokenIDs) MarshalJSON() ([]byte, error) { return marshalIntList(t) }

// MarshalJSON writes a single value as a plain integer, several as a list.
func (l IntList) MarshalJSON() ([]byte, error) { return marshalIntList(l) }

func marshalIntList(v []int) ([]byte, error) {
	switch len(v) {
	case 0:
		return jsonNull, nil
	case 1:
		return json.Marshal(v[0])
	}
	return json.Marshal([]int(v))
}

// toInt parses a JSON number literal as int, accepting integral floats such
// as 2.0 (Python writes some ints that way) but rejecting anything else and
// values outside the int32 range, which no id or layer index needs.
func toInt(lit []byte) (int, bool) {
	s := string(bytes.TrimSpace(lit))
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return 0, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return int(i), i >= math.MinInt32 && i <= math.MaxInt32
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, false
	}
	return int(f), true
}

// UnmarshalJSON decodes rope_scaling, accepting HF's legacy key "type".
func (r *RopeScaling) UnmarshalJSON(data []byte) error {
	type plain RopeScaling
	aux := struct {
		*plain
		LegacyType *string `json:"type"`
	}{plain: (*plain)(r)}
	*r = RopeScaling{}
	if err := decodeInto(data, &aux); err != nil {
		return err
	}
	if r.RopeType == "" && aux.LegacyType != nil {
		r.RopeType = *aux.LegacyType
	}
	return nil
}

// decodeRope decodes an optional rope_scaling value (absent or null: nil).
func decodeRope(raw json.RawMessage) (*RopeScaling, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	rs := new(RopeScaling)
	if err := rs.UnmarshalJSON(raw); err != nil {
		return nil, prefixKey("rope_scaling", err)
	}
	return rs, nil
}

// UnmarshalJSON fills HF's LlamaConfig defaults for absent keys, then
// overlays data. num_key_value_heads absent or null means
// num_attention_heads; head_dim absent or null means hidden/heads.
func (c *Llama) UnmarshalJSON(data []byte) error {
	*c = DefaultLlama()
	if isNull(data) {
		return nil
	}
	type plain Llama
	aux := struct {
		*plain
		NumKeyValueHeads *int            `json:"num_key_value_heads"`
		HeadDim          *int            `json:"head_dim"`
		RopeScaling      json.RawMessage `json:"rope_scaling"`
	}{plain: (*plain)(c)}
	if err := decodeInto(data, &aux); err != nil {
		return err
	}
	c.NumKeyValueHeads = c.NumAttentionHeads
	if aux.NumKeyValueHeads != nil {
		c.NumKeyValueHeads = *aux.NumKeyValueHeads
	}
	c.HeadDimension = 0
	if aux.HeadDim != nil {
		if *aux.HeadDim <= 0 {
			return &KeyError{Key: "head_dim", Err: fmt.Errorf("must be positive, got %d", *aux.HeadDim)}
		}
		c.HeadDimension = *aux.HeadDim
	}
	rs, err := decodeRope(aux.RopeScaling)
	if err != nil {
		return err
	}
	c.RopeScaling = rs
	return nil
}

// UnmarshalJSON fills HF's CLIPVisionConfig defaults, then overlays data.
func (c *CLIPVision) UnmarshalJSON(data []byte) error {
	*c = DefaultCLIPVision()
	if isNull(data) {
		return nil
	}
	type plain CLIPVision
	return decodeInto(data, (*plain)(c))
}

// UnmarshalJSON fills HF's LlavaConfig defaults (text_config absent: LlamaConfig
// defaults; vision_config absent: LLaVA's CLIP ViT-L/14-336 tower), then
// overlays data. A present text_config/vision_config starts from the
// LlamaConfig/CLIPVisionConfig defaults, as in HF.
func (c *Llava) UnmarshalJSON(data []byte) error {
	*c = DefaultLlava()
	if isNull(data) {
		return nil
	}
	type plain Llava
	aux := struct {
		*plain
		TextConfig   json.RawMessage `json:"text_config"`
		VisionConfig json.RawMessage `json:"vision_config"`
	}{plain: (*plain)(c)}
	if err := decodeInto(data, &aux); err != nil {
		return err
	}
	if aux.TextConfig != nil {
		if err := c.TextConfig.UnmarshalJSON(aux.TextConfig); err != nil {
			return prefixKey("text_config", err)
		}
	}
	if aux.VisionConfig != nil && !isNull(aux.VisionConfig) {
		if err := c.VisionConfig.UnmarshalJSON(aux.VisionConfig); err != nil {
			return prefixKey("vision_config", err)
		}
	}
	return nil
}

// UnmarshalJSON fills HF's MllamaVisionConfig defaults, then overlays data.
// HF stores the head count under "attention_heads"; "num_attention_heads" is
// accepted when "attention_heads" is absent. An absent or null
// supported_aspect_ratios takes HF's default list, which HF only allows with
// max_num_tiles 4.
func (c *MllamaVision) UnmarshalJSON(data []byte) error {
	*c = DefaultMllamaVision()
	if isNull(data) {
		return nil
	}
	type plain MllamaVision
	aux := struct {
		*plain
		NumAttentionHeads         *int    `json:"num_attention_heads"`
		AttentionHeads            *int    `json:"attention_heads"`
		IntermediateLayersIndices []int   `json:"intermediate_layers_indices"`
		SupportedAspectRatios     [][]int `json:"supported_aspect_ratios"`
	}{plain: (*plain)(c)}
	if err := decodeInto(data, &aux); err != nil {
		return err
	}
	switch {
	case aux.AttentionHeads != nil:
		c.AttentionHeads = *aux.AttentionHeads
	case aux.NumAttentionHeads != nil:
		c.AttentionHeads = *aux.NumAttentionHeads
	}
	if aux.IntermediateLayersIndices != nil {
		c.IntermediateLayersIndices = aux.IntermediateLayersIndices
	}
	if aux.SupportedAspectRatios != nil {
		c.SupportedAspectRatios = aux.SupportedAspectRatios
	} else if c.MaxNumTiles != defaultMllamaMaxTiles {
		return &KeyError{Key: "supported_aspect_ratios", Err: fmt.Errorf("absent, and HF's default list requires max_num_tiles %d, got %d", defaultMllamaMaxTiles, c.MaxNumTiles)}
	}
	return nil
}

// UnmarshalJSON fills HF's MllamaTextConfig defaults, then overlays data.
func (c *MllamaText) UnmarshalJSON(data []byte) error {
	*c = DefaultMllamaText()
	if isNull(data) {
		return nil
	}
	type plain MllamaText
	aux := struct {
		*plain
		CrossAttentionLayers []int           `json:"cross_attention_layers"`
		RopeScaling          json.RawMessage `json:"rope_scaling"`
	}{plain: (*plain)(c)}
	if err := decodeInto(data, &aux); err != nil {
		return err
	}
	if aux.CrossAttentionLayers != nil {
		c.CrossAttentionLayers = aux.CrossAttentionLayers
	}
	rs, err := decodeRope(aux.RopeScaling)
	if err != nil {
		return err
	}
	c.RopeScaling = rs
	return nil
}

// UnmarshalJSON fills HF's MllamaConfig defaults, then overlays data.
func (c *Mllama) UnmarshalJSON(data []byte) error {
	*c = DefaultMllama()
	if isNull(data) {
		return nil
	}
	type plain Mllama
	aux := struct {
		*plain
		TextConfig   json.RawMessage `json:"text_config"`
		VisionConfig json.RawMessage `json:"vision_config"`
	}{plain: (*plain)(c)}
	if err := decodeInto(data, &aux); err != nil {
		return err
	}
	if aux.TextConfig != nil {
		if err := c.TextConfig.UnmarshalJSON(aux.TextConfig); err != nil {
			return prefixKey("text_config", err)
		}
	}
	if aux.VisionConfig != nil {
		if err := c.VisionConfig.UnmarshalJSON(aux.VisionConfig); err != nil {
			return prefixKey("vision_config", err)
		}
	}
	return nil
}

// UnmarshalJSON fills HF's GenerationConfig defaults, then overlays data.
func (g *GenerationConfig) UnmarshalJSON(data []byte) error {
	*g = DefaultGeneration()
	if isNull(data) {
		return nil
	}
	type plain GenerationConfig
	return decodeInto(data, (*plain)(g))
}
