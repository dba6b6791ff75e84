/**
 * GGUF and llama.cpp constants shared by the model writer (oracle) and the GGUF header reader
 * (browser scout). Values from ggml's gguf.h (`gguf_type`) and llama.h (`llama_token_type`).
 */

/** GGUF metadata value types (`gguf_type`). */
export const GgufValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12
} as const;

/** llama.cpp token types (`llama_token_type`), as stored in `tokenizer.ggml.token_type`. */
export const LlamaTokenType = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6
} as const;
