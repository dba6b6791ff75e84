/**
 * Test helper: the generated default target/draft pair, created in the models dir
 * (`.shard/models`, or $SHARD_DATA_DIR/models) when absent. Safe to call from several test
 * processes at once (deterministic bytes, temp file + rename; see ensureModelPair).
 */
import { modelsDir } from '../../src/lib/server/data-dir.js';
import {
  DEFAULT_PAIR,
  ensureModelPair,
  type PairManifest
} from '../../native-oracle/models/index.js';

export type { PairManifest } from '../../native-oracle/models/index.js';

let pending: Promise<{ targetPath: string; draftPath: string; manifest: PairManifest }> | null =
  null;

/** Paths of the default pair and its manifest; generates them (a few seconds) if needed. */
export async function ensureTestModels(): Promise<{
  targetPath: string;
  draftPath: string;
  manifest: PairManifest;
}> {
  pending ??= ensureModelPair({ dir: modelsDir(), config: DEFAULT_PAIR }).then(
    ({ targetPath, draftPath, manifest }) => ({
      targetPath,
      draftPath,
      manifest
    })
  );
  try {
    return await pending;
  } catch (err) {
    pending = null;
    throw err;
  }
}
