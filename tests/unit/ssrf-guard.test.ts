/**
 * The SSRF guard of contributed endpoints (native-oracle/workflows/ssrf.ts) and the registry's
 * view of contributed nodes: internal addresses (loopback v4/v6, link-local, RFC 1918, unique
 * local, IPv4-mapped and IPv4-compatible IPv6) are refused for untrusted contributors, both as IP
 * literals and as names resolving to them (an injected resolver stands in for DNS); an
 * operator-trusted contributor's node may use them; and a node whose heartbeats stopped leaves
 * the workflow registry (the control plane's clock is injected).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createServer, type Server } from 'node:http';
import type { LookupAddress } from 'node:dns';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createContributionService,
  type ActiveNode
} from '../../native-oracle/contribution/index.js';
import {
  contributedCandidate,
  createCapacityRegistry,
  parseWorkflowConfig
} from '../../native-oracle/workflows/registry.js';
import {
  createGuardedLookup,
  endpointRefusal,
  isInternalAddress,
  type Resolver
} from '../../native-oracle/workflows/ssrf.js';
import { normalizePrivacy } from '../../src/lib/protocol/privacy.js';
import { signEnvelope } from '../../src/lib/protocol/contribution.js';

describe('isInternalAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['[::1]', true],
    ['169.254.169.254', true], // cloud metadata
    ['169.254.0.1', true],
    ['10.0.0.5', true],
    ['10.255.255.255', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['192.168.1.1', true],
    ['fc00::1', true],
    ['fd12:3456::1', true],
    ['fe80::1', true],
    ['::ffff:127.0.0.1', true], // IPv4-mapped, dotted
    ['::ffff:7f00:1', true], // IPv4-mapped, as URL parsing writes it
    ['0:0:0:0:0:ffff:a9fe:a9fe', true], // mapped 169.254.169.254, expanded
    ['::ffff:10.0.0.1', true],
    ['::7f00:1', true], // IPv4-compatible 127.0.0.1
    ['0.0.0.0', true],
    // Public (the controls):
    ['8.8.8.8', false],
    ['172.15.255.255', false], // just below 172.16/12
    ['172.32.0.0', false], // just above it
    ['192.169.0.1', false],
    ['169.253.255.255', false],
    ['::ffff:8.8.8.8', false],
    ['2001:4860:4860::8888', false],
    ['fbff::1', false], // just below fc00::/7
    ['example.com', false] // a name: checked at connect time
  ])('%s → internal %s', (address, isInternal) => {
    expect(isInternalAddress(address)).toBe(isInternal);
  });
});

describe('endpointRefusal (IP literals and localhost names, before any request)', () => {
  it.each([
    ['http://127.0.0.1:9091', 'internal_address:127.0.0.1'],
    ['http://localhost:9091', 'internal_address:localhost'],
    ['http://api.localhost', 'internal_address:api.localhost'],
    ['http://[::1]:8080', 'internal_address:[::1]'],
    ['http://[::ffff:127.0.0.1]/', 'internal_address:[::ffff:7f00:1]'],
    ['http://2130706433/', 'internal_address:127.0.0.1'], // decimal 127.0.0.1
    ['http://0x7f000001/', 'internal_address:127.0.0.1'],
    ['http://169.254.169.254/latest', 'internal_address:169.254.169.254'],
    ['https://10.1.2.3', 'internal_address:10.1.2.3'],
    ['https://[fd00::5]', 'internal_address:[fd00::5]'],
    ['https://8.8.8.8', null],
    ['https://node.example:9091', null]
  ])('%s → %s', (url, refusal) => {
    expect(endpointRefusal(url)).toBe(refusal);
  });
});

describe('createGuardedLookup (names, with an injected resolver)', () => {
  const resolverOf =
    (table: Record<string, string[]>): Resolver =>
    (hostname, _options, callback) =>
      callback(
        null,
        (table[hostname] ?? []).map((address) => ({
          address,
          family: address.includes(':') ? 6 : 4
        }))
      );
  const lookup = createGuardedLookup(
    resolverOf({
      'public.example': ['93.184.216.34', '2606:2800:220:1::'],
      'metadata.example': ['169.254.169.254'],
      'rebind.example': ['93.184.216.34', '10.0.0.7'],
      'v6.example': ['fd00::7'],
      'mapped.example': ['::ffff:192.168.0.1'],
      'lo.example': ['127.0.0.1']
    })
  );
  const resolve = (host: string, options: object = {}) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((done) =>
      lookup(host, options, (err, address) => done({ err, address }))
    );

  it.each(['metadata.example', 'rebind.example', 'v6.example', 'mapped.example', 'lo.example'])(
    '%s is refused (any internal address is enough)',
    async (host) => {
      const { err } = await resolve(host);
      expect(err?.name).toBe('InternalAddressError');
      expect(err?.code).toBe('EINTERNAL');
      expect(err?.message).toMatch(new RegExp(`^internal_address:${host} resolves to `));
    }
  );

  it('a name with only public addresses resolves (first address, or all when asked)', async () => {
    expect(await resolve('public.example')).toEqual({ err: null, address: '93.184.216.34' });
    const all = await resolve('public.example', { all: true });
    expect((all.address as LookupAddress[]).map((a) => a.address)).toEqual([
      '93.184.216.34',
      '2606:2800:220:1::'
    ]);
  });
});

describe('contributed nodes: trust decides the guard; stale heartbeats leave the registry', () => {
  let server: Server;
  let hits = 0;
  let loopbackUrl: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"test node"}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    loopbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const node = (trust_tier: ActiveNode['trust_tier']): ActiveNode => ({
    node_id: `cn-${trust_tier}`,
    contributor: 'ab'.repeat(32),
    session_id: 'cs-x',
    role: 'verifier',
    supply_tier: 'public',
    trust_tier,
    endpoint: loopbackUrl,
    capacity: 1,
    model_id: 'm',
    price_per_1k_input_usd: 0,
    price_per_1k_output_usd: 0,
    health: {
      healthy: true,
      last_heartbeat_ms: 0,
      age_ms: 0,
      queue_depth: 0,
      node_latency_ms: 1,
      uptime_seconds: 1,
      capability_tier: null,
      gpu_available: null,
      public_api: null,
      accepts_scout_work: null
    }
  });
  const attempt = async (trust: ActiveNode['trust_tier']) => {
    const candidate = contributedCandidate(node(trust), { credit: () => undefined as never });
    const before = hits;
    const error = await candidate.executor
      .run(
        {
          request_id: 'r1',
          step_kind: 'planner',
          messages: [{ role: 'user', content: 'hi' }],
          input: { kind: 'planner', question: 'q', sources: [] },
          model: null,
          max_tokens: 4,
          privacy: normalizePrivacy({})
        },
        new AbortController().signal
      )
      .then(
        () => null,
        (err: { reason?: string; message: string }) => err.reason ?? err.message
      );
    return { error, reached: hits - before };
  };

  it("an untrusted contributor's loopback endpoint is refused before any request", async () => {
    const { error, reached } = await attempt('public_specialist');
    expect(error).toBe('endpoint_refused:internal_address:127.0.0.1');
    expect(reached).toBe(0);
  });

  it("an operator-trusted contributor's loopback endpoint is reached (control)", async () => {
    const { error, reached } = await attempt('verified_mesh');
    expect(reached).toBe(1);
    expect(error).not.toMatch(/^endpoint_refused/);
  });

  it('a node whose heartbeats stopped leaves the registry after HEARTBEAT_TIMEOUT_MS', () => {
    const key = new Uint8Array(32).fill(7);
    const clock = { now: 1_700_000_000_000 };
    const service = createContributionService({
      dataDir: mkdtempSync(join(tmpdir(), 'shard-ssrf-registry-')),
      now: () => clock.now,
      trustedContributors: [bytesToHex(ed25519.getPublicKey(key))]
    });
    let n = 0;
    const sign = <T extends Parameters<typeof signEnvelope>[0]>(
      type: T,
      payload: Parameters<typeof signEnvelope<T>>[1]
    ) =>
      signEnvelope(type, payload, {
        secretKey: key,
        nonce: `nonce-${++n}-abcdef`,
        timestampMs: clock.now
      });
    const { session_id } = service.createSession(sign('session.create', {}));
    service.setParticipation(sign('participation.set', { session_id, enabled: true }));
    service.registerNode(
      sign('node.register', { session_id, role: 'verifier', endpoint: 'https://node.example:9091' })
    );
    const heartbeat = () =>
      service.heartbeat(
        sign('node.heartbeat', {
          session_id,
          role: 'verifier',
          queue_depth: 0,
          node_latency_ms: 5,
          uptime_seconds: 1
        })
      );
    const registry = createCapacityRegistry({
      config: parseWorkflowConfig({ extractive: { enabled: false } }),
      engine: null,
      contribution: service
    });
    const contributed = () =>
      registry.candidates().filter((c) => c.descriptor.candidate_id.startsWith('cn-')).length;
    expect(contributed()).toBe(0); // registered, never beat: not live
    heartbeat();
    expect(contributed()).toBe(1);
    clock.now += 29_000;
    expect(contributed()).toBe(1);
    clock.now += 2_000; // 31 s after the last heartbeat
    expect(contributed()).toBe(0);
    expect(service.activeNodes()).toEqual([]);
    heartbeat(); // beating again brings it back
    expect(contributed()).toBe(1);
    service.close();
  });
});
