// Package weights binds checkpoint tensors to model structs by reflection.
//
// # Model definition
//
// Layer structs declare their parameters as exported *tensor.Tensor fields
// tagged with their checkpoint names; nested structs, pointers to structs
// and slices/arrays add name segments:
//
//	type Attention struct {
//		Q  *tensor.Tensor `weight:"q_proj.weight"`
//		QB *tensor.Tensor `weight:"q_proj.bias,optional"`
//	}
//	type Layer struct {
//		Attn  Attention `weight:"self_attn"` // "self_attn." prefix
//		Extra *tensor.Tensor                 // untagged: ignored
//	}
//	type Model struct {
//		Layers []Layer        `weight:"layers"` // "layers.0.", "layers.1.", ...
//		Embed  *tensor.Tensor `weight:"embed_tokens.weight"`
//		Head   *tensor.Tensor `weight:"lm_head.weight,tied=embed_tokens.weight"`
//	}
//
// A struct field tagged `weight:""` is inlined (no extra segment); `weight:"-"`
// is skipped. Tag options: "optional" (an absent tensor sets the field to
// nil; on a nil *struct field, skips it) and "tied=NAME" (NAME is relative
// to the Bind prefix, like every field name). Slice lengths are whatever
// the constructor made them.
//
// # Invariants
//
// Constructors pre-allocate every required tensor field with its EXPECTED
// shape (Data may be nil). Bind checks each checkpoint shape against it and
// loads into the existing tensor object, so pointers the caller holds stay
// valid; nil Data gets a fresh buffer of the right length. Loading from a
// *safetensors.File decodes straight into that buffer (one copy out of the
// memory map). A nil required field is a model-definition error naming the
// Go field; an optional field may be nil, a tied field may be nil (it then
// takes the checkpoint's shape). Two fields claiming one name is an error.
//
// A tied field is filled from its own tensor when the checkpoint has it;
// otherwise it is set to the very tensor object of the field that holds
// the target (shared, as HF ties lm_head to embed_tokens), or loaded from
// the target's checkpoint tensor if no field holds it.
//
// # Errors
//
// Bind and Binder.Finish report everything at once in a *BindError:
// Missing (required, absent), Unexpected (checkpoint tensors under a bound
// prefix that no field claims and no Ignore prefix covers), Mismatched
// ("name: want [..], got [..]") and Other (definition and load errors),
// each list sorted. Rename maps checkpoint names once (to accept older HF
// naming); collisions are errors. A Binder binds several (prefix, struct)
// pairs from one Source and checks unexpected names across all of them.
//
// Walk lists every tagged tensor (trainers, savers); Save writes them as
// one F32 safetensors file that Bind reads back.
package weights
