/**
 * Test fixture for wllama's UTF-8 bug: copies a GGUF model with one token's piece overwritten by
 * bytes that are never valid UTF-8 (0xFF), same length, so the file layout is unchanged. A model
 * that outputs that token makes wllama throw, exactly like a real model emitting a lone
 * multi-byte fragment.
 */
import { copyFileSync, openSync, closeSync, readFileSync, writeSync } from 'node:fs';
import { readGgufVocab } from '../../../workers/scout/browser/gguf-vocab.js';

/** Writes `dst` = `src` with token `tokenId`'s piece replaced by 0xFF bytes. */
export function copyWithCorruptToken(src: string, dst: string, tokenId: number): void {
  const vocab = readGgufVocab(new Uint8Array(readFileSync(src)));
  const offset = vocab.pieceOffsets[tokenId];
  const length = vocab.pieces[tokenId]?.byteLength;
  if (offset === undefined || !length) throw new Error(`token ${tokenId} has no piece to corrupt`);
  copyFileSync(src, dst);
  const fd = openSync(dst, 'r+');
  try {
    writeSync(fd, new Uint8Array(length).fill(0xff), 0, length, offset);
  } finally {
    closeSync(fd);
  }
}
