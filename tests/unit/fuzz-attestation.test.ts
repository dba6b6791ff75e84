/**
 * Seeded fuzzing of the step attestation a contributed node returns to the workflow's remote
 * executor (issue #10): a real loopback server answers each step with a valid signed attestation
 * of the request it received, mutated by the fuzzer (a field changed, removed, or an unknown field
 * added). Property: the step either fails with `attestation_failed:<documented reason>`, or the
 * attestation it records for the receipt is exactly the signed one: nothing the node did not sign
 * reaches the oracle-signed receipt.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteExecutor } from '../../native-oracle/workflows/executors.js';
import { canonicalize } from '../../src/lib/protocol/canonical-json.js';
import { signStepAttestation } from '../../src/lib/protocol/contribution.js';
import { defaultPrivacy } from '../../src/lib/protocol/privacy.js';
import { createNobleSigner } from '../../src/lib/protocol/receipt-chain.js';
import { fuzzRuns, nearValid, type Mutation } from '../helpers/fuzz-arbitraries.js';

const SEED = 4010;
const signer = createNobleSigner(new Uint8Array(32).fill(44));
const CONTENT = 'A short brief about coffee.';
let server: Server;
let url: string;
/** What the node does to its valid attestation in the current run. */
let mutate: (valid: unknown) => unknown = (v) => v;
let lastSigned: unknown = null;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const signed = signStepAttestation(
        { request: JSON.parse(body), output: CONTENT, model: 'node-model' },
        signer
      );
      lastSigned = signed;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          model: 'node-model',
          choices: [{ message: { content: CONTENT } }],
          usage: { prompt_tokens: 5, completion_tokens: 5 },
          shard: { attestation: mutate(signed) }
        })
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const step = () =>
  createRemoteExecutor({
    endpoint: url,
    supplyTier: 'public',
    attestationSigner: signer.publicKeyHex
  }).run(
    {
      step_kind: 'synthesize_brief',
      messages: [{ role: 'user', content: 'brief' }],
      max_tokens: 8,
      input: {} as never,
      model: null,
      request_id: 'req-fuzz',
      privacy: defaultPrivacy()
    },
    new AbortController().signal
  );

/** A template attestation for the mutation arbitrary (its values are replaced per run). */
const template = signStepAttestation({ request: {}, output: '', model: 'm' }, signer);
const REASONS =
  /^attestation_failed:(missing|malformed|wrong_signer|request_mismatch|output_mismatch|bad_signature)$/;

describe('step attestation from a contributed node', () => {
  it('the valid attestation is recorded as signed', async () => {
    mutate = (v) => v;
    const result = await step();
    expect(result.model_metadata.attestation).toEqual(lastSigned);
  });

  it('regression (seed 4010, "add __proto__"): an unsigned field never reaches the receipt', async () => {
    // executors.ts returned the raw object: whatever the node added unsigned was recorded in the
    // oracle-signed receipt under model_metadata.attestation.
    mutate = (valid) => ({ ...(valid as object), note: 'unsigned claim', extra: { a: 1 } });
    const result = await step();
    expect(result.model_metadata.attestation).toEqual(lastSigned);
  });

  it('mutated attestations: a documented failure, or exactly the signed fields recorded', async () => {
    await fc.assert(
      fc.asyncProperty(nearValid(template), async (m: Mutation) => {
        // Apply the same mutation (path and value) to the attestation of this very request.
        const changed = JSON.stringify(template) !== JSON.stringify(m.value);
        mutate = (valid) => {
          const out = structuredClone(valid) as Record<string, unknown>;
          const t = m.value as Record<string, unknown>;
          for (const k of Object.keys(out)) if (!(k in t)) delete out[k];
          for (const [k, v] of Object.entries(t))
            if (JSON.stringify(v) !== JSON.stringify((template as Record<string, unknown>)[k]))
              Object.defineProperty(out, k, { value: v, enumerable: true, writable: true });
          return out;
        };
        const outcome = await step().then(
          (result) => ({ result, error: null }),
          (error: Error) => ({ result: null, error })
        );
        if (outcome.result) {
          const recorded = outcome.result.model_metadata.attestation;
          expect(canonicalize(recorded), m.describe).toBe(canonicalize(lastSigned));
        } else {
          expect(changed).toBe(true);
          expect(outcome.error!.message).toMatch(REASONS);
        }
      }),
      { seed: SEED, numRuns: fuzzRuns(60) }
    );
  });
});
