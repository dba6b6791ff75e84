/**
 * `npm run models`: writes the generated target/draft pair (and, with --bench, the benchmark pair;
 * with --slow, the slow Q8_0 pair) into the models dir, skipping work when the manifest and hashes
 * already match.
 */
import { resolve } from 'node:path';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import {
  benchPair,
  DEFAULT_PAIR,
  ensureModelPair,
  slowPair,
  estimateAcceptance,
  type PairConfig,
  type SlowPairType
} from './index.js';
import type { TensorTypeName } from './gguf-writer.js';

const HELP = `Usage: npm run models -- [options]

Writes target.gguf, draft.gguf and models.json (seed, dims, alpha, expected acceptance, sha256)
into the models dir (.shard/models, or $SHARD_DATA_DIR/models). Does nothing when they are
already there and their hashes match.

Options:
  --bench          also write the benchmark pair (bench-target.gguf ~141M params BF16,
                   bench-draft.gguf = its first layer); used by npm run bench:verify
  --bench-only     skip the default pair; write the benchmark pair
  --bench-type <t> weight type of the benchmark pair: BF16 (default), F16 or F32
                   (files bench-f16-*, bench-f32-*; BENCH_TYPE=<t> npm run bench:verify)
  --slow           also write the slow pair (slow-target.gguf ~0.97B params Q8_0, ~1.0 GB,
                   about 20 tok/s on one thread; slow-draft.gguf = its first layer, ~75 MB);
                   takes about a minute the first time; used by npm run bench:models
  --slow-only      skip the default pair; write the slow pair
  --slow-type <t>  weight type of the slow pair: Q8_0 (default), Q4_0 (output head Q8_0;
                   files slow-q4_0-*) or BF16 (files slow-bf16-*, ~1.9 GB);
                   SLOW_TYPE=<t> npm run bench:models
  --dir <path>     write into <path> instead of the models dir
  --alpha <x>      residual scale of the target's extra layers (default ${DEFAULT_PAIR.alpha});
                   lower = higher acceptance
  --seed <n>       seed (default ${DEFAULT_PAIR.seed})
  --force          regenerate even when valid files exist
  --sweep          print the estimated acceptance for a range of alphas and exit
  --help           this text
`;

function parseArgs(argv: string[]) {
  const opts = {
    bench: false,
    benchOnly: false,
    benchType: 'BF16' as TensorTypeName,
    slow: false,
    slowOnly: false,
    slowType: 'Q8_0' as SlowPairType,
    dir: '',
    alpha: NaN,
    seed: NaN,
    force: false,
    sweep: false,
    help: false
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--bench':
        opts.bench = true;
        break;
      case '--bench-only':
        opts.benchOnly = true;
        break;
      case '--slow':
        opts.slow = true;
        break;
      case '--slow-only':
        opts.slowOnly = true;
        break;
      case '--slow-type': {
        const type = next().toUpperCase();
        if (type !== 'Q8_0' && type !== 'Q4_0' && type !== 'BF16')
          throw new Error('--slow-type must be Q8_0, Q4_0 or BF16');
        opts.slowType = type;
        break;
      }
      case '--bench-type': {
        const type = next().toUpperCase();
        if (type !== 'BF16' && type !== 'F16' && type !== 'F32') {
          throw new Error('--bench-type must be BF16, F16 or F32');
        }
        opts.benchType = type;
        break;
      }
      case '--dir':
        opts.dir = next();
        break;
      case '--alpha':
        opts.alpha = Number(next());
        break;
      case '--seed':
        opts.seed = Number(next());
        break;
      case '--force':
        opts.force = true;
        break;
      case '--sweep':
        opts.sweep = true;
        break;
      case '--help':
      case '-h':
        opts.help = true;
        break;
      default:
        throw new Error(`unknown option ${arg} (see --help)`);
    }
  }
  if (opts.alpha !== opts.alpha && argv.includes('--alpha'))
    throw new Error('--alpha must be a number');
  if (!Number.isNaN(opts.alpha) && !(opts.alpha >= 0 && opts.alpha <= 4))
    throw new Error('--alpha must be in 0..4');
  if (!Number.isNaN(opts.seed) && !Number.isSafeInteger(opts.seed))
    throw new Error('--seed must be an integer');
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  const dir = opts.dir ? resolve(opts.dir) : modelsDir();
  const log = (line: string) => process.stdout.write(`[models] ${line}\n`);
  const custom: Partial<PairConfig> = {};
  if (!Number.isNaN(opts.alpha)) custom.alpha = opts.alpha;
  if (!Number.isNaN(opts.seed)) custom.seed = opts.seed;

  if (opts.sweep) {
    for (const alpha of [0, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3]) {
      const e = estimateAcceptance({ ...DEFAULT_PAIR, ...custom, alpha, measureTokens: 48 });
      log(
        `alpha ${alpha.toFixed(2)}: acceptance ${e.acceptance.toFixed(3)} distinct ${e.distinctRatio.toFixed(2)} min-gap ${e.minTop2Gap.toFixed(4)} near-ties ${e.nearTies}`
      );
    }
    return;
  }
  const started = Date.now();
  if (!opts.benchOnly && !opts.slowOnly) {
    const pair = await ensureModelPair({
      dir,
      config: { ...DEFAULT_PAIR, ...custom },
      force: opts.force,
      onProgress: log
    });
    log(
      `default pair: ${pair.targetPath}, ${pair.draftPath} (expected acceptance ${pair.manifest.expected?.acceptance.toFixed(3)})`
    );
  }
  if (opts.bench || opts.benchOnly) {
    const pair = await ensureModelPair({
      dir,
      config: { ...benchPair(opts.benchType), ...custom },
      force: opts.force,
      onProgress: log
    });
    log(`bench pair: ${pair.targetPath}, ${pair.draftPath}`);
  }
  if (opts.slow || opts.slowOnly) {
    const pair = await ensureModelPair({
      dir,
      config: { ...slowPair(opts.slowType), ...custom },
      force: opts.force,
      onProgress: log
    });
    log(`slow pair: ${pair.targetPath}, ${pair.draftPath}`);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[models] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
