/**
 * Generated models: the contract other code uses to find (and, when absent, create) the target and
 * draft GGUF files. `ensureModelPair()` is idempotent: it regenerates only when the manifest is
 * missing, was made from another config, or a file's sha256 no longer matches.
 *
 * Files in the models dir (`modelsDir()`: `.shard/models/`, SHARD_DATA_DIR overrides):
 * default pair `target.gguf`, `draft.gguf`, `models.json`; bench pair with the `bench-` prefix.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BENCH_PAIR,
  DEFAULT_PAIR,
  configHash,
  generatePair,
  type PairConfig,
  type PairManifest
} from './generate.js';
import { sha256File } from './integrity.js';

export {
  manifestSha256For,
  ModelIntegrityError,
  sha256File,
  verifyModelFile
} from './integrity.js';
export {
  benchPair,
  BENCH_PAIR,
  DEFAULT_PAIR,
  SLOW_PAIR,
  MEASUREMENT_PROMPTS,
  estimateAcceptance,
  generatePair,
  configHash
} from './generate.js';
export type { AcceptanceEstimate, ModelFileInfo, PairConfig, PairManifest } from './generate.js';
export { buildVocabulary, CHAT_TEMPLATE, SPECIAL_TOKENS } from './vocab.js';

export interface ModelPair {
  targetPath: string;
  draftPath: string;
  manifestPath: string;
  manifest: PairManifest;
  /** True when this call wrote the files; false when valid ones were already there. */
  generated: boolean;
}

export interface EnsureModelPairOptions {
  dir: string;
  /** Default DEFAULT_PAIR. */
  config?: PairConfig;
  /** File name prefix; default '' for the default pair, `<name>-` for any other (`bench-`). */
  prefix?: string;
  /** Regenerate even when valid files exist. Default false. */
  force?: boolean;
  onProgress?: (line: string) => void;
}

/** The manifest at `path`, or null when it is missing or unreadable. */
export async function readManifest(path: string): Promise<PairManifest | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as PairManifest;
  } catch {
    return null;
  }
}

async function isValid(
  dir: string,
  manifest: PairManifest | null,
  config: PairConfig
): Promise<boolean> {
  if (!manifest || manifest.configHash !== configHash(config)) return false;
  if (config.measureTokens > 0 && !manifest.expected?.continuations) return false;
  for (const info of [manifest.target, manifest.draft]) {
    const path = join(dir, info.file);
    const st = await stat(path).catch(() => null);
    if (!st || st.size !== info.bytes) return false;
    if ((await sha256File(path)) !== info.sha256) return false;
  }
  return true;
}

/**
 * Returns the pair in `dir`, generating it first when absent or stale. Safe when several processes
 * call it at once: every file is written to a unique temp name and renamed into place, the manifest
 * last, and generation is deterministic, so concurrent writers produce identical bytes.
 */
export async function ensureModelPair(options: EnsureModelPairOptions): Promise<ModelPair> {
  const config = options.config ?? DEFAULT_PAIR;
  const prefix = options.prefix ?? (config.name === 'default' ? '' : `${config.name}-`);
  const manifestPath = join(options.dir, `${prefix}models.json`);
  const paths = (m: PairManifest) => ({
    targetPath: join(options.dir, m.target.file),
    draftPath: join(options.dir, m.draft.file),
    manifestPath
  });
  const existing = await readManifest(manifestPath);
  if (!options.force && (await isValid(options.dir, existing, config))) {
    options.onProgress?.(
      `models up to date in ${options.dir} (${prefix}target.gguf, ${prefix}draft.gguf)`
    );
    return { ...paths(existing!), manifest: existing!, generated: false };
  }
  const manifest = await generatePair({
    config,
    dir: options.dir,
    prefix,
    onProgress: options.onProgress
  });
  const tmp = `${manifestPath}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await rename(tmp, manifestPath);
  options.onProgress?.(`wrote ${manifestPath}`);
  return { ...paths(manifest), manifest, generated: true };
}

export { BENCH_PAIR as benchPairConfig, DEFAULT_PAIR as defaultPairConfig };
