/**
 * The operator's contributor settings are oracle flags (native-oracle/config.ts):
 * --trusted-contributors and --contributor-keys (or SHARD_TRUSTED_CONTRIBUTORS /
 * SHARD_CONTRIBUTOR_KEYS), checked at start-up with errors that name the flag, listed in --help,
 * and handed to the contribution service (which no longer reads the environment itself).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, oracleUsage, parseOracleConfig } from '../../native-oracle/config.js';

const KEY = 'ab'.repeat(32);
const KEY2 = 'cd'.repeat(32);

function contributorsOf(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const parsed = parseOracleConfig({ argv: ['--allow-no-model', ...argv], env });
  if (parsed.kind !== 'run') throw new Error('expected a run config');
  return parsed.config.contributors;
}

describe('--trusted-contributors and --contributor-keys', () => {
  it('default to none', () => {
    expect(contributorsOf([])).toEqual({ trustedContributors: [], apiKeyContributors: [] });
  });

  it('take repeated or comma-separated values; keys are lower-cased; an API key may hold ":"', () => {
    expect(
      contributorsOf([
        '--trusted-contributors',
        `${KEY.toUpperCase()},${KEY2}`,
        '--contributor-keys',
        `sk:team:${KEY}`,
        '--contributor-keys',
        `plain:${KEY2}`
      ])
    ).toEqual({
      trustedContributors: [KEY, KEY2],
      apiKeyContributors: [
        { apiKey: 'sk:team', identity: KEY },
        { apiKey: 'plain', identity: KEY2 }
      ]
    });
  });

  it('read SHARD_TRUSTED_CONTRIBUTORS / SHARD_CONTRIBUTOR_KEYS; a flag wins over its variable', () => {
    const env = { SHARD_TRUSTED_CONTRIBUTORS: KEY, SHARD_CONTRIBUTOR_KEYS: `k1:${KEY}` };
    expect(contributorsOf([], env)).toEqual({
      trustedContributors: [KEY],
      apiKeyContributors: [{ apiKey: 'k1', identity: KEY }]
    });
    expect(contributorsOf(['--trusted-contributors', KEY2], env).trustedContributors).toEqual([
      KEY2
    ]);
  });

  it.each([
    [
      ['--trusted-contributors', 'not-a-key'],
      /^--trusted-contributors \/ SHARD_TRUSTED_CONTRIBUTORS: "not-a-key" is not a contributor public key/
    ],
    [['--trusted-contributors', KEY.slice(2)], /--trusted-contributors/],
    [
      ['--contributor-keys', 'secret-without-identity'],
      /^--contributor-keys \/ SHARD_CONTRIBUTOR_KEYS: each entry must be <api key>:<contributor public key, 64 hex>$/
    ],
    [['--contributor-keys', `:${KEY}`], /--contributor-keys/],
    [['--contributor-keys', 'k:short'], /--contributor-keys/]
  ])('%j is refused with an error naming the flag', (argv, message) => {
    let error: unknown;
    try {
      contributorsOf(argv);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    // The API key itself is never echoed back.
    expect((error as Error).message).not.toContain('secret-without-identity');
  });

  it('are listed in --help with their variables', () => {
    const usage = oracleUsage({});
    expect(usage).toMatch(/--trusted-contributors <keys> .*\[env SHARD_TRUSTED_CONTRIBUTORS\]/);
    expect(usage).toMatch(/--contributor-keys <key:pubkey> .*\[env SHARD_CONTRIBUTOR_KEYS\]/);
  });
});
