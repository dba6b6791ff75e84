/**
 * Issue #10, oracle configuration: --model-sha256 / SHARD_MODEL_SHA256, the receipt retention
 * setting and --rotate-receipt-key are parsed, validated with messages naming the setting, and
 * documented in --help.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, oracleUsage, parseOracleConfig } from '../../native-oracle/config.js';

const env = { SHARD_DATA_DIR: '/tmp/shard-config-test' } as NodeJS.ProcessEnv;
const SHA = 'AB'.repeat(32);

function run(argv: string[], extraEnv: Record<string, string> = {}) {
  const parsed = parseOracleConfig({ argv, env: { ...env, ...extraEnv } });
  if (parsed.kind !== 'run') throw new Error('expected a run config');
  return parsed.config;
}

describe('oracle config: integrity and retention settings', () => {
  it('reads the model sha256 from the flag or the environment, lowercased', () => {
    expect(run([]).modelSha256).toBeNull();
    expect(run(['--model-sha256', SHA]).modelSha256).toBe(SHA.toLowerCase());
    expect(run([], { SHARD_MODEL_SHA256: SHA }).modelSha256).toBe(SHA.toLowerCase());
  });

  it('reads the receipt retention in days; unset or 0 keeps receipts forever', () => {
    expect(run([]).receiptRetentionDays).toBeNull();
    expect(run([], { SHARD_RECEIPT_RETENTION_DAYS: '0' }).receiptRetentionDays).toBeNull();
    expect(run([], { SHARD_RECEIPT_RETENTION_DAYS: '30' }).receiptRetentionDays).toBe(30);
  });

  it.each([
    [['--model-sha256', 'abc'], {}, /--model-sha256 must be 64 hex characters.*"abc"/],
    [[], { SHARD_MODEL_SHA256: 'zz' }, /SHARD_MODEL_SHA256 must be 64 hex characters/],
    [
      [],
      { SHARD_RECEIPT_RETENTION_DAYS: 'a week' },
      /SHARD_RECEIPT_RETENTION_DAYS must be a whole number of days/
    ]
  ])('rejects %j %j with a message naming the setting', (argv, extra, message) => {
    const call = () => parseOracleConfig({ argv, env: { ...env, ...extra } });
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(message);
  });

  it('--rotate-receipt-key is a command on the data dir', () => {
    expect(parseOracleConfig({ argv: ['--rotate-receipt-key'], env })).toEqual({
      kind: 'rotate-receipt-key',
      dataDir: '/tmp/shard-config-test'
    });
  });

  it('documents the new settings in --help', () => {
    const text = oracleUsage(env);
    for (const needle of [
      '--model-sha256 <hex>',
      'SHARD_MODEL_SHA256',
      'SHARD_RECEIPT_RETENTION_DAYS',
      'unset (keep forever)',
      '--rotate-receipt-key',
      'receipt-keyring.json'
    ])
      expect(text).toContain(needle);
  });
});
