/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * A small multi-host layout with dialled latency (tests/harness/net-layout.ts): 2 relay
 * processes, 2 oracle processes (native-oracle/main.ts, oracle i on relay i) and 3 Node scout
 * processes, each scout in its own network namespace (when the test runs as root) whose only way
 * out is its latency proxies, 15 ms one way. Checks, without timing assertions:
 *   1. each relay holds a circuit reservation of every scout, made through the scout's proxy;
 *   2. each oracle sees every scout over a relayed circuit only, with a round trip of at least
 *      2 x 15 ms (the proxies' lower bound), and a scout's namespace has no interface but lo;
 *   3. a chat completion with speculation on, temperature 0, on EACH oracle is drafted by scouts
 *      (drafted > 0, accepted > 0) and its text equals the same request with speculation off;
 *      the proxies carried bytes both ways while it ran.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayoutOptionsError, startLayout, type Layout } from '../harness/net-layout.js';
import { waitFor } from './mesh-harness.js';

const ONE_WAY_DELAY_MS = 15;
const MESSAGES = [{ role: 'user', content: 'Tell me about the river and the quick brown fox.' }];

async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} -> ${res.status}`);
  return res.json();
}

async function chat(url: string, model: string, speculation: 'on' | 'off') {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-shard-speculation': speculation },
    body: JSON.stringify({ model, messages: MESSAGES, max_tokens: 40, temperature: 0 })
  });
  const body = (await res.json()) as any;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { text: body.choices[0].message.content as string, shard: body.shard };
}

describe('mesh layout: 2 relays, 2 oracles, 3 scouts behind 15 ms proxies', () => {
  let layout: Layout;

  beforeAll(async () => {
    layout = await startLayout({
      relays: 2,
      oracles: 2,
      scouts: 3,
      oneWayDelayMs: ONE_WAY_DELAY_MS,
      useNetns: true
    });
    if (layout.notes.length > 0) console.warn(`mesh layout notes: ${layout.notes.join('; ')}`);
  }, 180_000);

  afterAll(async () => {
    await layout?.stop();
  });

  it('each relay holds a reservation of every scout, reached through its proxies', async () => {
    const scoutIds = layout.scouts.map((s) => s.peerId);
    for (const relay of layout.relays) {
      const peers = await waitFor(`scout reservations on ${relay.peerId}`, async () => {
        const list = (await getJson(`${relay.httpUrl}/peers`)).peers as any[];
        const reserved = list.filter((p) => scoutIds.includes(p.peerId) && p.hasReservation);
        return reserved.length === scoutIds.length ? list : null;
      });
      expect(peers.length).toBeGreaterThanOrEqual(scoutIds.length);
      const health = await getJson(`${relay.httpUrl}/health`);
      expect(health.reservations).toBeGreaterThanOrEqual(scoutIds.length);
    }
    // Each scout's connection to each relay is one proxied TCP connection at least, delayed as
    // asked (the unit tests show a proxy imposes its delay; a round trip on a busy machine is
    // often over 30 ms even without it, so the rtt check below alone would not show that).
    for (const scout of layout.scouts)
      for (const proxy of scout.proxies) {
        expect(proxy.delay()).toEqual({ oneWayDelayMs: ONE_WAY_DELAY_MS, jitterMs: 0 });
        expect(proxy.stats().connections).toBeGreaterThanOrEqual(1);
        expect(proxy.stats().bytesDown).toBeGreaterThan(0);
      }
  });

  it('each oracle reaches every scout over a relayed circuit, at least 2 x 15 ms away', async (ctx) => {
    // As root, `ip netns` is expected to work (it does on these machines): falling back to
    // loopback there is a failure, not a skip. Elsewhere scouts share the host network and
    // could reach an oracle directly, so this check does not apply.
    if (process.getuid?.() === 0) expect(layout.isolation, layout.notes.join('; ')).toBe('netns');
    else ctx.skip(`not root: no network namespaces (${layout.notes.join('; ')})`);
    for (const scout of layout.scouts) {
      const links = execFileSync('ip', ['-n', scout.netns!, '-o', 'link', 'show'], {
        encoding: 'utf8'
      });
      expect(
        links
          .trim()
          .split('\n')
          .map((l) => l.split(':')[1]!.trim())
      ).toEqual(['lo']);
    }
    for (const oracle of layout.oracles) {
      const rows = await waitFor(`rtt of every scout at ${oracle.url}`, async () => {
        const { peers } = await getJson(`${oracle.url}/v1/system/peers`);
        const scouts = (peers as any[]).filter((p) =>
          layout.scouts.some((s) => s.peerId === p.peer_id)
        );
        const isMeasured = scouts.length === layout.scouts.length && scouts.every((p) => p.rtt_ms);
        return isMeasured ? scouts : null;
      });
      for (const row of rows) {
        expect(row).toMatchObject({ role: 'scout', verified: true });
        expect(row.connections.map((c: any) => c.kind)).toEqual(
          row.connections.map(() => 'relayed')
        );
        expect(row.rtt_ms).toBeGreaterThanOrEqual(2 * ONE_WAY_DELAY_MS);
      }
    }
  });

  it('a completion on each oracle is drafted by scouts and equals the undrafted one', async () => {
    for (const oracle of layout.oracles) {
      const { data } = await getJson(`${oracle.url}/v1/models`);
      const model = data[0].id as string;
      const plain = await chat(oracle.url, model, 'off');
      expect(plain.text.length).toBeGreaterThan(0);
      expect(plain.shard.drafted).toBe(0);

      const before = layout.proxyTotals();
      const drafted = await chat(oracle.url, model, 'on');
      const after = layout.proxyTotals();
      expect(drafted.shard.draft_source).toMatch(/^scout:/);
      expect(drafted.shard.drafted).toBeGreaterThan(0);
      expect(drafted.shard.accepted).toBeGreaterThan(0);
      expect(drafted.text).toBe(plain.text);
      // Drafts (scout -> oracle, "up") and the context sent to scouts ("down") went through.
      expect(after.bytesUp).toBeGreaterThan(before.bytesUp);
      expect(after.bytesDown).toBeGreaterThan(before.bytesDown);
    }
  });
});

describe('mesh layout options', () => {
  it.each([
    [{ relays: 0 }, /relays must be an integer 1..4/],
    [{ oracles: 5 }, /oracles must be an integer 0..4/],
    [{ scouts: 1.5 }, /scouts must be an integer 0..8/],
    [{ oneWayDelayMs: -1 }, /oneWayDelayMs must be 0..60000 ms/],
    [{ jitterMs: Number.POSITIVE_INFINITY }, /jitterMs must be 0..60000 ms/],
    [{ seed: 'x' }, /seed must be an integer/],
    [{ oracleArgs: [1] }, /oracleArgs must be an array of strings/],
    [{ draftModelPath: '/no/such/draft.gguf' }, /draftModelPath must be an existing file/]
  ])('rejects %j before starting anything', async (options, message) => {
    const started = startLayout(options as never);
    await expect(started).rejects.toThrow(message);
    await expect(started).rejects.toBeInstanceOf(LayoutOptionsError);
  });
});
