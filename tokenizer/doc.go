// Package tokenizer turns prompts into token ids and back exactly as the
// reference (HF tokenizers, and llama.cpp for GGUF vocabularies) does, and
// trains small byte-level BPE vocabularies.
//
// # Vocabularies
//
// Two BPE families share one merge engine (mergeTable: packed uint64 pair
// keys -> rank and result id; lowest rank first, leftmost on ties):
//
//   - ByteLevel (GPT-2, Llama-3, Qwen2, DeepSeek, StarCoder, Falcon, MPT):
//     the text is pre-tokenized, every byte of a piece maps to GPT-2's
//     printable byte alphabet, and merges are ranked by their order in the
//     merges list. With ignore_merges (Llama-3) a piece that is itself a
//     token is emitted whole.
//   - SentencePiece (Llama-2, Vicuna, LLaVA-1.5): spaces become '▁', '▁' is
//     prefixed to every text segment (the reference's legacy behaviour: at the
//     start and after each special token), and the whole segment is merged
//     character by character. From GGUF, merges are derived from piece scores
//     (every split of a normal piece into two pieces, ranked by score, higher
//     first; equal scores share a rank); from tokenizer.json the merges list
//     is used. Characters missing from the vocabulary become <0xNN> byte
//     tokens (byte fallback) or <unk>.
//
// Words of fewer than 48 symbols merge by a linear scan; longer ones (long
// SentencePiece segments) use a heap; TestMergeHeapMatchesLinear keeps the
// two equal. Results of pieces up to 64 bytes are cached per Tokenizer
// (bounded, guarded by a RWMutex, so a Tokenizer is safe for concurrent use).
//
// # Normalizers
//
// tokenizer.json normalizers run on each text segment between added tokens
// (normalize.go): NFC, NFD, NFKC, NFKD (golang.org/x/text/unicode/norm),
// Lowercase (per character as Rust's char::to_lowercase: U+0130 -> "i\u0307",
// no final-sigma rule), Strip (Unicode White_Space, left/right),
// StripAccents (drops category M), Replace (String pattern, or Regex run on
// Go's regexp with \s widened; content is literal; lookaround is a load
// error), Prepend (non-empty segments only) and Sequence. Any other type
// (BertNormalizer, Precompiled, Nmt, ByteLevel...) is a load error naming
// it. Bytes that are not valid UTF-8 pass through every normalizer
// unchanged. Prepend("▁") and Replace(" " -> "▁") also mark the vocabulary
// SentencePiece (Llama-2's tokenizer.json) and are undone by Decode.
// GGUF vocabularies have no normalizer (llama.cpp applies none).
//
// # Pre-tokenizers
//
// The GPT-2 pattern and the Llama-3/Qwen2 patterns, whose \s+(?!\S)
// lookahead Go's regexp lacks, are hand-written scanners (gpt2Splitter,
// llama3Splitter) that follow the regex alternation order exactly. Other
// patterns (DeepSeek-LLM/Coder, Falcon, llama.cpp "default") run on Go's
// regexp with \s widened to Unicode White_Space; lookaround in an unknown
// pattern is a load error. Split stages apply in sequence with "Isolated"
// behaviour (matches and gaps both kept). Character classes: \p{L}, \p{N}
// from Go's unicode tables (Unicode 15); invalid UTF-8 bytes count as
// "other" so byte-level vocabularies still encode and decode them.
//
// # Added and special tokens
//
// Added tokens (tokenizer.json added_tokens; GGUF control and user-defined
// token types) are split out leftmost then longest, honouring lstrip/rstrip,
// in two passes as HF's AddedVocabulary does: tokens with normalized=false
// (GGUF tokens; HF's default for special tokens) on the raw text, then, in
// each remaining piece after normalization, tokens with normalized=true
// whose content is normalized the same way (Llama-2's "</s>" becomes
// "▁</s>"). The text between them is pre-tokenized and merged. WithParseSpecial(false) encodes special-token text
// as plain text (non-special added tokens are still split, as HF's
// split_special_tokens does). BOS/EOS come from the post-processor
// template, tokenizer_config.json (bos_token, eos_token, add_bos_token,
// add_eos_token) or GGUF (tokenizer.ggml.{bos,eos}_token_id,
// add_bos_token, add_eos_token); WithAddSpecial(false) leaves them out.
//
// # Test fixtures
//
// The ggml-vocab-*.gguf.out files hold ids WITHOUT BOS even for llama-spm
// (whose add_bos_token is true): they were produced with
// add_special_tokens=False. Each .inp text is followed by
// "\n__ggml_vocab_test__\n"; each .out line is the ids, each preceded by a
// space. gpt2-hf/tokenizer.json reproduces the gpt-2 .out.
//
// # Decoding
//
// Decode inverts Encode: byte-level tokens map back to the original bytes
// (also invalid UTF-8); SentencePiece turns '▁' into spaces, <0xNN> into
// bytes and drops the prefix space at the start of each segment. Added
// tokens decode to their content. HF's clean_up_tokenization_spaces is NOT
// applied (it would break the round trip). An id outside the vocabulary is
// an error.
//
// # Errors and limits
//
// Load errors name the file and the offending entry (unknown model type,
// merge using a missing token, duplicate id, id far beyond the vocabulary,
// unsupported normalizer or pre-tokenizer). Unicode normalization uses
// golang.org/x/text's tables, whose Unicode version may differ from the
// Rust crate's for newly assigned characters. single_word of added tokens is
// ignored. Unigram and WordPiece models are not supported.
//
// # Chat templates and training
//
// Chat prompts are rendered by the root package (Model.RenderChat, the
// folder's Jinja chat template) and encoded with Encode. ChatTemplate.Format
// and EncodeChat are the older fixed single-turn LLaVA-1.5 and
// Llama-3.2-Vision formats, kept for programs that build prompts without a
// model folder; they agree with HF's templates for one user turn with
// images (without one, Llama-3.2-Vision's template adds a system header). Train learns
// a byte-level BPE vocabulary; WriteJSON/SaveJSON write it as an HF
// tokenizer.json that Load reads back.
//
// # Hostile files
//
// Load reads tokenizer.json and tokenizer_config.json capped
// (MaxTokenizerJSONBytes, MaxTokenizerConfigBytes) and refuses special
// files. A normalizer chain that can grow text more than
// MaxNormalizerGrowth times is refused (its growth is bounded per
// normalizer when it loads), as are added tokens that contradict the
// vocabulary (an id with other content, a content with another id) and
// GGUF vocabularies without the 256 byte tokens their kind needs. GGUF
// merges from scores are found with a rolling hash (random base mod
// 2⁶¹−1), linear in the vocabulary's bytes.
package tokenizer
