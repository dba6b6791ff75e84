/**
 * The contributor control plane against a real SQLite file with a clock the test moves:
 * staleness, replay (also after a restart), wrong keys, tier rules, the registry feed's
 * heartbeat timeout, the credit ledger and identify(). Every refused message must change nothing.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createContributionService,
  CREDIT_RATES,
  HEARTBEAT_TIMEOUT_MS,
  MAX_FUTURE_SKEW_MS,
  MAX_MESSAGE_AGE_MS,
  toCapabilityDescriptor,
  type ContributionService
} from '../../native-oracle/contribution/index.js';
import {
  signContributorHeader,
  signEnvelope,
  type ContributionMessageType,
  type PayloadOf
} from '../../src/lib/protocol/contribution.js';

const T0 = 1_700_000_000_000;
const keyA = new Uint8Array(32).fill(1);
const keyB = new Uint8Array(32).fill(2);
const pubA = bytesToHex(ed25519.getPublicKey(keyA));
const pubB = bytesToHex(ed25519.getPublicKey(keyB));

const dirs: string[] = [];
const services: ContributionService[] = [];
afterEach(() => {
  while (services.length) services.pop()!.close();
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

function setup(options: { trustedContributors?: string[]; dir?: string } = {}) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'shard-contrib-'));
  if (!options.dir) dirs.push(dir);
  const clock = { now: T0 };
  const service = createContributionService({
    dataDir: dir,
    now: () => clock.now,
    ...(options.trustedContributors ? { trustedContributors: options.trustedContributors } : {})
  });
  services.push(service);
  let n = 0;
  const sign = <T extends ContributionMessageType>(
    type: T,
    payload: PayloadOf<T>,
    opts: { key?: Uint8Array; ts?: number; nonce?: string } = {}
  ) =>
    signEnvelope(type, payload, {
      secretKey: opts.key ?? keyA,
      nonce: opts.nonce ?? `n-${++n}-${clock.now}`,
      timestampMs: opts.ts ?? clock.now
    });
  return { dir, clock, service, sign };
}

const beat = (session_id: string) => ({
  session_id,
  role: 'verifier' as const,
  queue_depth: 0,
  node_latency_ms: 24,
  uptime_seconds: 15,
  capability_tier: 'gpu_fast',
  gpu_available: true,
  public_api: true
});

function liveVerifier(t: ReturnType<typeof setup>) {
  const session = t.service.createSession(t.sign('session.create', {}));
  t.service.setParticipation(
    t.sign('participation.set', { session_id: session.session_id, enabled: true })
  );
  const node = t.service.registerNode(
    t.sign('node.register', {
      session_id: session.session_id,
      role: 'verifier',
      capacity: 2,
      price_per_1k_input_usd: 0.01,
      price_per_1k_output_usd: 0.02,
      endpoint: 'http://10.0.0.5:9091'
    })
  );
  t.service.heartbeat(t.sign('node.heartbeat', beat(session.session_id)));
  return { session, node };
}

describe('signed control messages', () => {
  it('creates a session owned by the signer, participation off until switched on', () => {
    const t = setup();
    const s = t.service.createSession(t.sign('session.create', { label: 'laptop' }));
    expect(s).toMatchObject({ contributor: pubA, label: 'laptop', participation_enabled: false });
    expect(s.session_id).toMatch(/^cs-/);
    const on = t.service.setParticipation(
      t.sign('participation.set', { session_id: s.session_id, enabled: true })
    );
    expect(on.participation_enabled).toBe(true);
  });

  it('refuses a message older than the window and one dated too far ahead, changing nothing', () => {
    const t = setup();
    const s = t.service.createSession(t.sign('session.create', {}));
    const old = t.sign(
      'participation.set',
      { session_id: s.session_id, enabled: true },
      { ts: T0 - MAX_MESSAGE_AGE_MS - 1 }
    );
    expect(() => t.service.setParticipation(old)).toThrow(
      expect.objectContaining({
        name: 'StaleMessageError',
        message: expect.stringContaining('stale')
      })
    );
    const future = t.sign(
      'participation.set',
      { session_id: s.session_id, enabled: true },
      { ts: T0 + MAX_FUTURE_SKEW_MS + 1 }
    );
    expect(() => t.service.setParticipation(future)).toThrow(
      expect.objectContaining({
        name: 'StaleMessageError',
        message: expect.stringContaining('future')
      })
    );
    expect(t.service.session(s.session_id)!.participation_enabled).toBe(false);
    // At the edge of the window the message is still fresh.
    const edge = t.sign(
      'participation.set',
      { session_id: s.session_id, enabled: true },
      { ts: T0 - MAX_MESSAGE_AGE_MS }
    );
    expect(t.service.setParticipation(edge).participation_enabled).toBe(true);
  });

  it('refuses a replayed message (same nonce), also after a restart, changing nothing', () => {
    const t = setup();
    const s = t.service.createSession(t.sign('session.create', {}));
    const on = t.sign('participation.set', { session_id: s.session_id, enabled: true });
    const off = t.sign('participation.set', { session_id: s.session_id, enabled: false });
    t.service.setParticipation(on);
    t.service.setParticipation(off);
    expect(() => t.service.setParticipation(on)).toThrow(
      expect.objectContaining({ name: 'ReplayedNonceError' })
    );
    expect(t.service.session(s.session_id)!.participation_enabled).toBe(false);

    t.service.close();
    services.pop();
    const again = createContributionService({ dataDir: t.dir, now: () => t.clock.now });
    services.push(again);
    expect(() => again.setParticipation(on)).toThrow(
      expect.objectContaining({ name: 'ReplayedNonceError' })
    );
    expect(again.session(s.session_id)!.participation_enabled).toBe(false);
  });

  it('a replay outside the window is refused as stale; the nonce store forgets it', () => {
    const t = setup();
    const create = t.sign('session.create', {});
    t.service.createSession(create);
    t.clock.now += MAX_MESSAGE_AGE_MS + 1;
    expect(() => t.service.createSession(create)).toThrow(
      expect.objectContaining({ name: 'StaleMessageError' })
    );
  });

  it('refuses a message signed by another key than the session’s, changing nothing', () => {
    const t = setup();
    const s = t.service.createSession(t.sign('session.create', {}));
    const byB = t.sign(
      'participation.set',
      { session_id: s.session_id, enabled: true },
      { key: keyB }
    );
    expect(() => t.service.setParticipation(byB)).toThrow(
      expect.objectContaining({ name: 'SessionKeyMismatchError' })
    );
    const reg = t.sign('node.register', { session_id: s.session_id, role: 'scout' }, { key: keyB });
    expect(() => t.service.registerNode(reg)).toThrow(
      expect.objectContaining({ name: 'SessionKeyMismatchError' })
    );
    expect(t.service.session(s.session_id)).toMatchObject({
      participation_enabled: false,
      nodes: []
    });
    // The refused message's nonce was not consumed: nothing was written.
    const retry = t.sign(
      'participation.set',
      { session_id: s.session_id, enabled: true },
      {
        nonce: byB.nonce
      }
    );
    expect(t.service.setParticipation(retry).participation_enabled).toBe(true);
  });

  it('refuses a signature that does not match (a payload edited after signing)', () => {
    const t = setup();
    const s = t.service.createSession(t.sign('session.create', {}));
    const msg = t.sign('participation.set', { session_id: s.session_id, enabled: false });
    const edited = { ...msg, payload: { ...msg.payload, enabled: true } };
    expect(() => t.service.setParticipation(edited)).toThrow(
      expect.objectContaining({ name: 'InvalidSignatureError' })
    );
    expect(t.service.session(s.session_id)!.participation_enabled).toBe(false);
  });

  it('refuses a node_pubkey that is not the signer and a message of another type', () => {
    const t = setup();
    const s = t.service.createSession(t.sign('session.create', {}));
    const reg = t.sign('node.register', {
      session_id: s.session_id,
      role: 'scout',
      node_pubkey: pubB
    });
    expect(() => t.service.registerNode(reg)).toThrow(
      expect.objectContaining({
        name: 'SessionKeyMismatchError',
        message: expect.stringContaining('node_pubkey')
      })
    );
    const wrongType = t.sign('participation.set', { session_id: s.session_id, enabled: true });
    expect(() => t.service.registerNode(wrongType)).toThrow(
      expect.objectContaining({ name: 'InvalidContributionMessageError' })
    );
  });

  it('applies the tier rules: non-public tiers for trusted contributors only, no scout endpoints', () => {
    const t = setup({ trustedContributors: [pubB] });
    const a = t.service.createSession(t.sign('session.create', {}));
    const privateA = t.sign('node.register', {
      session_id: a.session_id,
      role: 'verifier',
      supply_tier: 'private',
      endpoint: 'http://10.0.0.5:9091'
    });
    expect(() => t.service.registerNode(privateA)).toThrow(
      expect.objectContaining({ name: 'NodeRegistrationRefusedError' })
    );
    const scoutEndpoint = t.sign('node.register', {
      session_id: a.session_id,
      role: 'scout',
      endpoint: 'http://10.0.0.5:9091'
    });
    expect(() => t.service.registerNode(scoutEndpoint)).toThrow(
      expect.objectContaining({ name: 'NodeRegistrationRefusedError' })
    );
    const publicA = t.service.registerNode(
      t.sign('node.register', { session_id: a.session_id, role: 'verifier' })
    );
    expect(publicA).toMatchObject({
      supply_tier: 'public',
      trust_tier: 'public_specialist',
      capacity: 1
    });

    const b = t.service.createSession(t.sign('session.create', {}, { key: keyB }));
    const privateB = t.service.registerNode(
      t.sign(
        'node.register',
        {
          session_id: b.session_id,
          role: 'oracle',
          supply_tier: 'private',
          endpoint: 'http://10.0.0.6:9091'
        },
        { key: keyB }
      )
    );
    expect(privateB).toMatchObject({ supply_tier: 'private', trust_tier: 'verified_mesh' });
    const personalRemote = t.sign(
      'node.register',
      {
        session_id: b.session_id,
        role: 'verifier',
        supply_tier: 'personal',
        endpoint: 'http://10.0.0.6:1'
      },
      { key: keyB }
    );
    expect(() => t.service.registerNode(personalRemote)).toThrow(/loopback/);
  });

  it('refuses heartbeats and deregistration for a node that is not registered', () => {
    const t = setup();
    const s = t.service.createSession(t.sign('session.create', {}));
    expect(() => t.service.heartbeat(t.sign('node.heartbeat', beat(s.session_id)))).toThrow(
      expect.objectContaining({ name: 'NodeNotRegisteredError' })
    );
    expect(() =>
      t.service.deregisterNode(
        t.sign('node.deregister', { session_id: s.session_id, role: 'verifier' })
      )
    ).toThrow(expect.objectContaining({ name: 'NodeNotRegisteredError' }));
  });
});

describe('registry feed', () => {
  it('lists a participating verifier with fresh heartbeats, with tier, trust, prices, endpoint and health', () => {
    const t = setup();
    const { session, node } = liveVerifier(t);
    const nodes = t.service.activeNodes();
    expect(nodes).toEqual([
      {
        node_id: node.node_id,
        contributor: pubA,
        session_id: session.session_id,
        role: 'verifier',
        supply_tier: 'public',
        trust_tier: 'public_specialist',
        endpoint: 'http://10.0.0.5:9091',
        capacity: 2,
        model_id: null,
        price_per_1k_input_usd: 0.01,
        price_per_1k_output_usd: 0.02,
        health: {
          healthy: true,
          last_heartbeat_ms: T0,
          age_ms: 0,
          queue_depth: 0,
          node_latency_ms: 24,
          uptime_seconds: 15,
          capability_tier: 'gpu_fast',
          gpu_available: true,
          public_api: true,
          accepts_scout_work: null
        }
      }
    ]);
    expect(toCapabilityDescriptor(nodes[0]!)).toMatchObject({
      candidate_id: node.node_id,
      supply_tier: 'public',
      trust_tier: 'public_specialist',
      endpoint: 'http://10.0.0.5:9091',
      latency_ms: 24,
      healthy: true
    });
  });

  it('drops a node when heartbeats stop, and lists it again when they resume', () => {
    const t = setup();
    const { session } = liveVerifier(t);
    t.clock.now += HEARTBEAT_TIMEOUT_MS;
    expect(t.service.activeNodes()).toHaveLength(1);
    t.clock.now += 1;
    expect(t.service.activeNodes()).toEqual([]);
    expect(t.service.session(session.session_id)!.nodes[0]!.healthy).toBe(false);
    t.service.heartbeat(t.sign('node.heartbeat', beat(session.session_id)));
    expect(t.service.activeNodes()).toHaveLength(1);
  });

  it('leaves out scouts, nodes without an endpoint, paused sessions and deregistered nodes', () => {
    const t = setup();
    const { session } = liveVerifier(t);
    const sid = session.session_id;
    t.service.registerNode(t.sign('node.register', { session_id: sid, role: 'scout' }));
    t.service.heartbeat(t.sign('node.heartbeat', { ...beat(sid), role: 'scout' }));
    t.service.registerNode(t.sign('node.register', { session_id: sid, role: 'oracle' }));
    t.service.heartbeat(t.sign('node.heartbeat', { ...beat(sid), role: 'oracle' }));
    expect(t.service.activeNodes().map((n) => n.role)).toEqual(['verifier']);
    // An endpoint announced in heartbeats counts when registration gave none.
    t.service.heartbeat(
      t.sign('node.heartbeat', {
        ...beat(sid),
        role: 'oracle',
        public_api_addr: 'https://o.example'
      })
    );
    expect(
      t.service
        .activeNodes()
        .map((n) => n.endpoint)
        .sort()
    ).toEqual(['http://10.0.0.5:9091', 'https://o.example']);
    t.service.setParticipation(t.sign('participation.set', { session_id: sid, enabled: false }));
    expect(t.service.activeNodes()).toEqual([]);
    t.service.setParticipation(t.sign('participation.set', { session_id: sid, enabled: true }));
    t.service.deregisterNode(t.sign('node.deregister', { session_id: sid, role: 'verifier' }));
    expect(t.service.activeNodes().map((n) => n.role)).toEqual(['oracle']);
  });
});

describe('credit ledger', () => {
  it('credits verified work at the documented rates, once per evidence, and keeps it across restarts', () => {
    const t = setup();
    const r1 = t.service.credit(pubA, 'accepted_draft_tokens', 40, { source: 'mesh', ref: 'vs-1' });
    expect(r1).toMatchObject({
      credits: 40 * CREDIT_RATES.accepted_draft_tokens,
      is_duplicate: false
    });
    const dup = t.service.credit(pubA, 'accepted_draft_tokens', 40, {
      source: 'mesh',
      ref: 'vs-1'
    });
    expect(dup).toMatchObject({ credits: 0, is_duplicate: true, balance: r1.balance });
    t.service.credit(pubA, 'golden_tickets_passed', 2, { source: 'trust', ref: 'gt-9' });
    t.service.credit(pubA, 'verified_steps_served', 1, { source: 'workflow', ref: 'rcpt-1' });
    const expected =
      40 * 1 + 2 * CREDIT_RATES.golden_tickets_passed + CREDIT_RATES.verified_steps_served;
    t.service.close();
    services.pop();
    const again = createContributionService({ dataDir: t.dir, now: () => t.clock.now });
    services.push(again);
    const balance = again.credits(pubA);
    expect(balance).toMatchObject({
      identity: pubA,
      credits: expected,
      by_kind: { accepted_draft_tokens: 40, golden_tickets_passed: 16, verified_steps_served: 100 }
    });
    expect(balance.recent.map((e) => e.evidence.ref)).toEqual(['rcpt-1', 'gt-9', 'vs-1']);
    expect(again.credits(pubB).credits).toBe(0);
  });

  it('refuses malformed credit calls', () => {
    const t = setup();
    const ev = { source: 'mesh', ref: 'x' };
    expect(() => t.service.credit('nope', 'accepted_draft_tokens', 1, ev)).toThrow(/identity/);
    expect(() => t.service.credit(pubA, 'heartbeats' as never, 1, ev)).toThrow(/kind/);
    expect(() => t.service.credit(pubA, 'accepted_draft_tokens', 0, ev)).toThrow(/amount/);
    expect(() => t.service.credit(pubA, 'accepted_draft_tokens', 1.5, ev)).toThrow(/amount/);
    expect(() =>
      t.service.credit(pubA, 'accepted_draft_tokens', 1, { source: '', ref: 'x' })
    ).toThrow(/evidence/);
    expect(t.service.credits(pubA).credits).toBe(0);
  });

  it('heartbeats and registrations earn nothing', () => {
    const t = setup();
    liveVerifier(t);
    expect(t.service.credits(pubA).credits).toBe(0);
  });
});

describe('identify()', () => {
  const request = (header?: string) => ({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: header === undefined ? {} : { 'x-shard-contributor': header }
  });
  const header = (
    t: ReturnType<typeof setup>,
    opts: { ts?: number; nonce?: string; path?: string } = {}
  ) =>
    signContributorHeader({
      method: 'POST',
      path: opts.path ?? '/v1/chat/completions',
      secretKey: keyA,
      timestampMs: opts.ts ?? t.clock.now,
      ...(opts.nonce ? { nonce: opts.nonce } : {})
    });

  it('returns null without the header and the identity with its credit when valid', () => {
    const t = setup();
    expect(t.service.identify(request())).toBeNull();
    t.service.credit(pubA, 'accepted_draft_tokens', 7, { source: 'mesh', ref: 'a' });
    expect(t.service.identify(request(header(t)))).toEqual({ identity: pubA, credit: 7 });
    expect(
      t.service.identify({
        ...request(),
        headers: new Headers({ 'x-shard-contributor': header(t) })
      })
    ).toEqual({ identity: pubA, credit: 7 });
  });

  it.each([
    [
      'replayed',
      (t: ReturnType<typeof setup>) => {
        const h = header(t, { nonce: 'same-nonce' });
        t.service.identify(request(h));
        return h;
      },
      'replayed_nonce'
    ],
    [
      'stale',
      (t: ReturnType<typeof setup>) => header(t, { ts: T0 - MAX_MESSAGE_AGE_MS - 1 }),
      'stale_message'
    ],
    [
      'signed for another path',
      (t: ReturnType<typeof setup>) => header(t, { path: '/v1/models' }),
      'invalid_signature'
    ],
    ['malformed', () => 'abc', 'malformed']
  ])('refuses a %s header with its reason', (_what, make, reason) => {
    const t = setup();
    const h = make(t);
    expect(() => t.service.identify(request(h))).toThrow(
      expect.objectContaining({ name: 'InvalidContributorHeaderError', reason })
    );
  });
});
