package tokenizer_test

import (
	"fmt"

	"github.com/fovea-ml/fovea/tokenizer"
)

func ExampleLoad() {
	tok, err := tokenizer.Load("../testdata/tokenizer/gpt2-hf")
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tok.Encode("Hello world")
	text, _ := tok.Decode(ids)
	fmt.Println(ids, text)
	// Output: [15496 995] Hello world
}

func ExampleLoadGGUF() {
	tok, err := tokenizer.LoadGGUF("../testdata/tokenizer/ggml-vocab-llama-spm.gguf")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Encode("Hello world"))
	fmt.Println(tok.Encode("Hello world", tokenizer.WithAddSpecial(false)))
	// Output:
	// [1 15043 3186]
	// [15043 3186]
}

func ExampleChatTemplate_Format() {
	s, _ := tokenizer.Llava15.Format("What is in the picture?", 1)
	fmt.Printf("%q\n", s)
	// Output: "USER: <image>\nWhat is in the picture? ASSISTANT:"
}
