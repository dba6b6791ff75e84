/**
 * The privacy envelope (src/lib/protocol/privacy.ts): normalization (absent = default, present
 * = literal, implied fields, contradictions refused with the field named), the header form, and
 * which declared capacity honours which envelope.
 */
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/lib/protocol/policy.js';
import {
  describePrivacyRequirement,
  encodePrivacyHeader,
  isDefaultPrivacy,
  parsePrivacy,
  parsePrivacyHeader,
  privacyExclusion,
  privacySupportOf,
  PrivacyEnvelopeSchema,
  type PrivacyEnvelope,
  type PrivacySupport
} from '../../src/lib/protocol/privacy.js';

const DEFAULTS: PrivacyEnvelope = {
  requires_tee: false,
  encrypted: false,
  encryption_scheme: 'none',
  tee_mode: 'none',
  scout_floor: 'reputable'
};

describe('privacy envelope normalization', () => {
  const cases: Array<[string, unknown, Partial<PrivacyEnvelope>]> = [
    ['undefined is all defaults', undefined, DEFAULTS],
    ['null is all defaults', null, DEFAULTS],
    ['{} is all defaults', {}, DEFAULTS],
    [
      'requires_tee alone: any TEE',
      { requires_tee: true },
      { requires_tee: true, tee_mode: 'none' }
    ],
    ['tee_mode implies requires_tee', { tee_mode: 'sgx' }, { requires_tee: true, tee_mode: 'sgx' }],
    [
      'tee_mode with requires_tee true',
      { tee_mode: 'sev', requires_tee: true },
      { requires_tee: true, tee_mode: 'sev' }
    ],
    [
      'encrypted alone means fhe',
      { encrypted: true },
      { encrypted: true, encryption_scheme: 'fhe' }
    ],
    [
      'fhe implies encrypted',
      { encryption_scheme: 'fhe' },
      { encrypted: true, encryption_scheme: 'fhe' }
    ],
    [
      'encrypted false, scheme none',
      { encrypted: false, encryption_scheme: 'none' },
      { encrypted: false, encryption_scheme: 'none' }
    ],
    ['scout floor taken literally', { scout_floor: 'none' }, { scout_floor: 'none' }],
    ['scout floor any', { scout_floor: 'any' }, { scout_floor: 'any', requires_tee: false }]
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    const result = parsePrivacy(input);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.privacy).toEqual({ ...DEFAULTS, ...expected });
  });

  const errors: Array<[unknown, string]> = [
    [
      { tee_mode: 'sgx', requires_tee: false },
      'privacy.requires_tee: false contradicts tee_mode sgx (omit it or send true)'
    ],
    [
      { encrypted: true, encryption_scheme: 'none' },
      'privacy.encryption_scheme: none contradicts encrypted: true (send fhe or omit it)'
    ],
    [
      { encrypted: false, encryption_scheme: 'fhe' },
      'privacy.encrypted: false contradicts encryption_scheme fhe (omit it or send true)'
    ],
    [{ tee_mode: 'tdx' }, 'privacy.tee_mode: '],
    [{ scout_floor: 'friends' }, 'privacy.scout_floor: '],
    [{ requires_tee: 'yes' }, 'privacy.requires_tee: '],
    [{ prompt: 'hello' }, 'privacy: Unrecognized key: "prompt"'],
    ['tee', 'privacy: ']
  ];
  it.each(errors)('refuses %o naming the field', (input, message) => {
    const result = parsePrivacy(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.detail.startsWith(message)).toBe(true);
  });

  it('names where the envelope was sent', () => {
    const r = parsePrivacy({ tee_mode: 'sgx', requires_tee: false }, 'shard.privacy');
    expect(r).toEqual({
      ok: false,
      detail: 'shard.privacy.requires_tee: false contradicts tee_mode sgx (omit it or send true)'
    });
  });

  it('is a policy field: absent = defaults, errors prefixed policy.privacy', () => {
    const plain = parsePolicy({});
    expect(plain.ok && plain.policy.privacy).toEqual(DEFAULTS);
    expect(plain.ok && plain.policy.allow_generated_test_model).toBe(false);
    const tee = parsePolicy({ privacy: { tee_mode: 'sev' } });
    expect(tee.ok && tee.policy.privacy).toEqual({
      ...DEFAULTS,
      requires_tee: true,
      tee_mode: 'sev'
    });
    expect(parsePolicy({ privacy: { encrypted: true, encryption_scheme: 'none' } })).toEqual({
      ok: false,
      detail:
        'policy.privacy.encryption_scheme: none contradicts encrypted: true (send fhe or omit it)'
    });
    const unknown = parsePolicy({ privacy: { tee: 'sgx' } });
    expect(!unknown.ok && unknown.detail).toBe('policy.privacy: Unrecognized key: "tee"');
    const optIn = parsePolicy({ allow_generated_test_model: true });
    expect(optIn.ok && optIn.policy.allow_generated_test_model).toBe(true);
    const bad = parsePolicy({ allow_generated_test_model: 'yes' });
    expect(!bad.ok && bad.detail.startsWith('policy.allow_generated_test_model:')).toBe(true);
  });

  it('does not share the default envelope between policies', () => {
    const a = parsePolicy({});
    if (a.ok) (a.policy.privacy as { scout_floor: string }).scout_floor = 'any';
    const b = parsePolicy({});
    expect(b.ok && b.policy.privacy.scout_floor).toBe('reputable');
  });

  it('reads receipts written before the envelope existed as the default envelope', () => {
    expect(PrivacyEnvelopeSchema.parse({})).toEqual(DEFAULTS);
  });

  it('isDefaultPrivacy is true only for the defaults', () => {
    expect(isDefaultPrivacy({ ...DEFAULTS })).toBe(true);
    expect(isDefaultPrivacy({ ...DEFAULTS, scout_floor: 'none' })).toBe(false);
    expect(isDefaultPrivacy({ ...DEFAULTS, requires_tee: true })).toBe(false);
  });
});

describe('x-shard-privacy header', () => {
  const cases: Array<
    [string, string | undefined, { ok: boolean; detail?: string; privacy?: object }]
  > = [
    ['absent', undefined, { ok: true, privacy: DEFAULTS }],
    ['blank', '  ', { ok: true, privacy: DEFAULTS }],
    [
      'an envelope',
      '{"tee_mode":"sgx","scout_floor":"none"}',
      {
        ok: true,
        privacy: { ...DEFAULTS, requires_tee: true, tee_mode: 'sgx', scout_floor: 'none' }
      }
    ],
    ['not JSON', 'sgx', { ok: false, detail: 'x-shard-privacy: must be a JSON object' }],
    ['an array', '[true]', { ok: false, detail: 'x-shard-privacy: must be a JSON object' }],
    ['null', 'null', { ok: false, detail: 'x-shard-privacy: must be a JSON object' }],
    [
      'a contradiction',
      '{"requires_tee":false,"tee_mode":"sev"}',
      {
        ok: false,
        detail:
          'x-shard-privacy.requires_tee: false contradicts tee_mode sev (omit it or send true)'
      }
    ],
    [
      'over 1000 characters',
      `{"scout_floor":"${'a'.repeat(1_000)}"}`,
      { ok: false, detail: 'x-shard-privacy: must be at most 1000 characters' }
    ]
  ];
  it.each(cases)('%s', (_name, value, expected) => {
    expect(parsePrivacyHeader(value)).toEqual(expected);
  });

  it('round-trips a normalized envelope', () => {
    const envelope: PrivacyEnvelope = {
      requires_tee: true,
      encrypted: true,
      encryption_scheme: 'fhe',
      tee_mode: 'sev',
      scout_floor: 'trusted'
    };
    expect(parsePrivacyHeader(encodePrivacyHeader(envelope))).toEqual({
      ok: true,
      privacy: envelope
    });
  });
});

describe('which capacity honours which envelope', () => {
  const env = (p: Partial<PrivacyEnvelope>): PrivacyEnvelope => ({ ...DEFAULTS, ...p });
  const none: PrivacySupport = { tee: 'none', encryption: 'none' };
  const sgx: PrivacySupport = { tee: 'sgx', encryption: 'none' };
  const sev: PrivacySupport = { tee: 'sev', encryption: 'none' };
  const fhe: PrivacySupport = { tee: 'none', encryption: 'fhe' };
  const sgxFhe: PrivacySupport = { tee: 'sgx', encryption: 'fhe' };
  const cases: Array<[string, PrivacyEnvelope, PrivacySupport, string | null]> = [
    ['defaults run anywhere', env({}), none, null],
    ['scout floor none excludes no candidate', env({ scout_floor: 'none' }), none, null],
    [
      'any TEE: none declared',
      env({ requires_tee: true }),
      none,
      'privacy_requires_tee: the request needs a TEE (sgx or sev); this candidate declares no TEE'
    ],
    ['any TEE: sgx declared', env({ requires_tee: true }), sgx, null],
    ['any TEE: sev declared', env({ requires_tee: true }), sev, null],
    ['sgx on sgx', env({ requires_tee: true, tee_mode: 'sgx' }), sgx, null],
    [
      'sgx on sev',
      env({ requires_tee: true, tee_mode: 'sgx' }),
      sev,
      'privacy_requires_tee: the request needs a TEE (sgx); this candidate declares a TEE (sev)'
    ],
    [
      'fhe on plaintext capacity',
      env({ encrypted: true, encryption_scheme: 'fhe' }),
      sgx,
      'privacy_requires_encryption: the request is fhe-encrypted; this candidate declares no encrypted computation'
    ],
    ['fhe on fhe', env({ encrypted: true, encryption_scheme: 'fhe' }), fhe, null],
    [
      'sgx and fhe: TEE missing is named first',
      env({ requires_tee: true, tee_mode: 'sgx', encrypted: true, encryption_scheme: 'fhe' }),
      fhe,
      'privacy_requires_tee: the request needs a TEE (sgx); this candidate declares no TEE'
    ],
    [
      'sgx and fhe on sgx+fhe',
      env({ requires_tee: true, tee_mode: 'sgx', encrypted: true, encryption_scheme: 'fhe' }),
      sgxFhe,
      null
    ],
    ['TEE capacity serves a plain request', env({}), sgxFhe, null]
  ];
  it.each(cases)('%s', (_name, envelope, support, expected) => {
    expect(privacyExclusion(envelope, support)).toBe(expected);
  });

  it.each([
    [undefined, none],
    [['planning', 'tee:sgx'], sgx],
    [['tee:sev'], sev],
    [['encryption:fhe'], fhe],
    [['tee:sgx', 'encryption:fhe', 'synthesis'], sgxFhe],
    [['tee:tdx', 'encryption:rsa'], none]
  ])('reads support from tags %o', (tags, expected) => {
    expect(privacySupportOf(tags)).toEqual(expected);
  });

  it.each([
    [env({}), null],
    [env({ scout_floor: 'none' }), null],
    [env({ requires_tee: true }), 'a TEE (sgx or sev)'],
    [env({ requires_tee: true, tee_mode: 'sev' }), 'a TEE (sev)'],
    [env({ encrypted: true, encryption_scheme: 'fhe' }), 'fhe encryption'],
    [
      env({ requires_tee: true, tee_mode: 'sgx', encrypted: true, encryption_scheme: 'fhe' }),
      'a TEE (sgx) and fhe encryption'
    ]
  ])('describes the requirement of %o', (envelope, expected) => {
    expect(describePrivacyRequirement(envelope)).toBe(expected);
  });
});
