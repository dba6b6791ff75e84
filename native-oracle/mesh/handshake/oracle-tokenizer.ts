/**
 * The oracle's side of the tokenizer compatibility check (src/lib/protocol/tokenizer-sketch.ts):
 * the target's id → text table read through the target engine's own detokenizer (llama.cpp),
 * sketched once, on the first hello that carries a sketch.
 */
import type { TargetEngine } from '../../engine/index.js';
import {
  anchoredText,
  sketchTokenizer,
  type TokenizerSketch
} from '../../../src/lib/protocol/tokenizer-sketch.js';
import type { OracleTokenizer } from '../../../src/lib/protocol/mesh.js';

/**
 * The target's tokenizer for `checkScoutHello`, or null when the engine cannot detokenize (then
 * scouts are matched by fingerprint alone). llama.cpp renders special tokens as nothing, which is
 * the sketch's rule, so no token needs to be marked special here.
 */
export function engineTokenizer(
  engine: Partial<Pick<TargetEngine, 'vocabularySize' | 'detokenize'>>
): OracleTokenizer | null {
  const { vocabularySize: size, detokenize } = engine;
  if (!size || typeof detokenize !== 'function') return null;
  const textOf = anchoredText(
    size,
    (ids) => detokenize.call(engine, ids),
    () => false
  );
  let sketch: TokenizerSketch | null = null;
  return {
    sketch: () => (sketch ??= sketchTokenizer(size, textOf)),
    textOf
  };
}
