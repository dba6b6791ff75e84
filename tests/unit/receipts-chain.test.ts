import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { canonicalize, CanonicalJsonError } from '../../src/lib/protocol/canonical-json.js';
import {
  createNobleSigner,
  receiptHash,
  sealReceipt,
  verifyReceiptChain,
  type ReceiptSigner
} from '../../src/lib/protocol/receipt-chain.js';
import type { ExecutionReceipt, UnsignedReceipt } from '../../src/lib/protocol/receipts.js';

const seed = (n: number) => new Uint8Array(32).fill(n);

function chainOf(
  signer: ReceiptSigner,
  count: number,
  executionId = 'exec-00000000-0000-4000-8000-000000000001'
) {
  const out: ExecutionReceipt[] = [];
  let prev: string | null = null;
  for (let i = 0; i < count; i++) {
    const unsigned: UnsignedReceipt = {
      receipt_id: `rcpt-${i}`,
      execution_id: executionId,
      step_id: i === 0 ? 'workflow' : 'planner',
      attempt_id: `${executionId}:planner:attempt:${i}`,
      parent_receipt_id: i === 0 ? undefined : `rcpt-${i - 1}`,
      event_kind: i === 0 ? 'planned' : 'dispatched',
      timestamp_ms: 1_700_000_000_000 + i,
      workflow_kind: 'research_brief',
      summary: `receipt ${i} – ünïcode €`
    };
    const sealed = sealReceipt(unsigned, { seq: i, prevHash: prev, signer });
    out.push(sealed.receipt);
    prev = sealed.hash;
  }
  return out;
}

describe('canonical JSON (RFC 8785)', () => {
  it('matches the RFC 8785 §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}'
    );
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    );
  });

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis'
    };
    const keys = Object.keys(JSON.parse(canonicalize(input)) as object);
    expect(canonicalize(input).indexOf('Carriage')).toBeLessThan(
      canonicalize(input).indexOf('One')
    );
    expect(keys.length).toBe(7);
    const order = [
      'Carriage Return',
      'One',
      'Control',
      'Latin Small Letter O With Diaeresis',
      'Euro Sign',
      'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh'
    ];
    const text = canonicalize(input);
    const positions = order.map((v) => text.indexOf(v));
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it.each([
    [{ a: Number.NaN }, '$.a: non-finite'],
    [{ a: [undefined] }, '$.a[0]: undefined in array'],
    [{ a: 1n }, '$.a: bigint has no JSON representation']
  ])('rejects %o', (value, message) => {
    expect(() => canonicalize(value)).toThrow(CanonicalJsonError);
    expect(() => canonicalize(value)).toThrow(message);
  });

  it('omits undefined members and keeps -0 as 0', () => {
    expect(canonicalize({ b: undefined, a: -0 })).toBe('{"a":0}');
  });
});

describe('receipt chain', () => {
  const signer = createNobleSigner(seed(7));

  it('verifies an untouched chain and reports its head hash', () => {
    const receipts = chainOf(signer, 5);
    const report = verifyReceiptChain(receipts, { trustedKeys: [signer.publicKeyHex] });
    expect(report.ok).toBe(true);
    expect(report.verified).toBe(5);
    expect(report.head_hash).toBe(receiptHash(receipts[4]!));
    expect(receipts[0]!.prev_hash).toBeNull();
    expect(receipts[1]!.prev_hash).toBe(receiptHash(receipts[0]!));
    expect(receipts.every((r) => r.node_identity === signer.publicKeyHex)).toBe(true);
  });

  it('survives a JSON round trip (what the browser receives)', () => {
    const receipts = JSON.parse(JSON.stringify(chainOf(signer, 3))) as unknown[];
    expect(verifyReceiptChain(receipts).ok).toBe(true);
  });

  const tamperings: Array<[string, (r: Array<Record<string, unknown>>) => void, number, string]> = [
    ['edited summary', (r) => (r[2]!.summary = 'edited'), 2, 'bad_signature'],
    ['edited cost added', (r) => (r[3]!.actual_cost_usd = 0), 3, 'bad_signature'],
    ['dropped receipt', (r) => r.splice(1, 1), 1, 'seq_mismatch'],
    ['swapped receipts', (r) => ([r[1], r[2]] = [r[2]!, r[1]!]), 1, 'seq_mismatch'],
    [
      'renumbered after drop',
      (r) => {
        r.splice(1, 1);
        for (let i = 1; i < r.length; i++) r[i]!.seq = i;
      },
      1,
      'prev_hash_mismatch'
    ],
    [
      'forged signature',
      (r) =>
        (r[4]!.signature = (r[4]!.signature as string).replace(/^./, (c) =>
          c === 'a' ? 'b' : 'a'
        )),
      4,
      'bad_signature'
    ],
    ['malformed key', (r) => (r[0]!.node_identity = 'zz'), 0, 'malformed']
  ];
  it.each(tamperings)(
    'detects %s and reports the first bad receipt',
    (_name, tamper, index, reason) => {
      const receipts = JSON.parse(JSON.stringify(chainOf(signer, 5))) as Array<
        Record<string, unknown>
      >;
      tamper(receipts);
      const report = verifyReceiptChain(receipts);
      expect(report.ok).toBe(false);
      expect(report.first_bad?.index).toBe(index);
      expect(report.first_bad?.reason).toBe(reason);
    }
  );

  it('rejects a valid chain signed by an untrusted key', () => {
    const other = createNobleSigner(seed(9));
    const report = verifyReceiptChain(chainOf(other, 2), { trustedKeys: [signer.publicKeyHex] });
    expect(report.first_bad?.reason).toBe('untrusted_signer');
  });

  it('a re-signed edit by another key fails the trusted-key check, not the hash check', () => {
    const receipts = chainOf(signer, 2);
    const attacker = createNobleSigner(seed(3));
    const forged = sealReceipt(
      { ...(receipts[1] as UnsignedReceipt), summary: 'forged' },
      { seq: 1, prevHash: receiptHash(receipts[0]!), signer: attacker }
    );
    expect(verifyReceiptChain([receipts[0], forged.receipt]).ok).toBe(true);
    expect(
      verifyReceiptChain([receipts[0], forged.receipt], { trustedKeys: [signer.publicKeyHex] })
        .first_bad?.reason
    ).toBe('untrusted_signer');
  });

  it('signatures are plain Ed25519 over the domain-prefixed hash (checkable with any library)', () => {
    const [r] = chainOf(signer, 1);
    const msg = new Uint8Array([
      ...new TextEncoder().encode('shard-receipt/1\n'),
      ...Buffer.from(receiptHash(r!), 'hex')
    ]);
    expect(
      ed25519.verify(Buffer.from(r!.signature, 'hex'), msg, Buffer.from(r!.node_identity, 'hex'))
    ).toBe(true);
  });
});
