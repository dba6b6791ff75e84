/**
 * The oracle's side of the tokenizer compatibility check (src/lib/protocol/tokenizer-sketch.ts):
 * the target's id → text table read through the target engine's own detokenizer (llama.cpp),
 * sketched once, on the first hello that carries a sketch. A large vocabulary takes a second or
 * more (hashing a 152k-token table alone took ~1.1 s on this busy 2-core machine, before the
 * detokenizer's own cost), so it is read in chunks that yield to the event loop between them:
 * other peers' traffic is not held up meanwhile.
 */
import type { TargetEngine } from '../../engine/index.js';
import type { OracleTokenizer } from '../../../src/lib/protocol/mesh.js';
import {
  anchoredText,
  createSketchBuilder,
  type TokenizerSketch
} from '../../../src/lib/protocol/tokenizer-sketch.js';

/** Tokens read between two yields to the event loop (about 15 ms of hashing here). */
const SKETCH_CHUNK_TOKENS = 2048;

/** The oracle's tokenizer: `ready()` computes the sketch (once); `sketch()` needs it done. */
export interface EngineTokenizer extends OracleTokenizer {
  ready(): Promise<void>;
}

/**
 * The target's tokenizer for `checkScoutHello`, or null when the engine cannot detokenize (then
 * scouts are matched by fingerprint alone). llama.cpp renders special tokens as nothing, which is
 * the sketch's rule, so no token needs to be marked special here. `sketch()` throws until
 * `ready()` has resolved.
 */
export function engineTokenizer(
  engine: Partial<Pick<TargetEngine, 'vocabularySize' | 'detokenize'>>
): EngineTokenizer | null {
  const { vocabularySize: size, detokenize } = engine;
  if (!size || typeof detokenize !== 'function') return null;
  const textOf = anchoredText(
    size,
    (ids) => detokenize.call(engine, ids),
    () => false
  );
  let sketch: TokenizerSketch | null = null;
  let pending: Promise<void> | null = null;
  const compute = async () => {
    const builder = createSketchBuilder(size);
    for (let id = 0; id < size; id++) {
      builder.add(textOf(id));
      if (id % SKETCH_CHUNK_TOKENS === SKETCH_CHUNK_TOKENS - 1) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    sketch = builder.finish();
  };
  return {
    ready: () => (pending ??= compute()),
    sketch() {
      if (!sketch) throw new Error('the target tokenizer sketch is not ready; await ready()');
      return sketch;
    },
    textOf
  };
}
