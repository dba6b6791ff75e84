/**
 * Where a Node process keeps its state: models, keys, SQLite files. `.shard/` under the working
 * directory by default; SHARD_DATA_DIR overrides.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Resolves the data dir (creating it) from SHARD_DATA_DIR or `<cwd>/.shard`. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = resolve(env.SHARD_DATA_DIR?.trim() || join(process.cwd(), '.shard'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Directory of the generated models inside the data dir. */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = join(dataDir(env), 'models');
  mkdirSync(dir, { recursive: true });
  return dir;
}
