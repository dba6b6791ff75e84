/**
 * Cooperative generation over the real mesh: a relay process, the oracle's libp2p peer and the
 * real target engine in this process, Node scout processes drafting with llama.cpp on the
 * generated draft model, all on loopback with random ports.
 *
 * Determinism: nothing here depends on timing luck. With speculation forced on every round
 * drafts and waits (up to UNGOVERNED_MAX_WAIT_MS) for k drafts, so drafts are accepted and the
 * scouts must follow the committed context round after round. With the governor on (`auto`),
 * the test checks what the governor must do whatever the timings: its first round measures with
 * the long budget, every budget stays within its bounds, and the reason it reports has one of
 * the documented forms; the output is the oracle's own either way.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOVERNOR_REASON_FORMS } from '../../native-oracle/engine/governor.js';
import {
  createTargetEngine,
  type DraftBudget,
  type DraftSource,
  type GenerationStats,
  type TargetEngine
} from '../../native-oracle/engine/index.js';
import {
  createMeshNode,
  createOracleMesh,
  type MeshNode,
  type OracleMesh
} from '../../native-oracle/mesh/index.js';
import { loadOrCreateKey } from '../../relay/key-file.js';
import { VERIFY_PROTOCOL } from '../../src/lib/protocol/mesh.js';
import type { DraftEngine } from '../../workers/scout/core.js';
import { createScoutPeer, type ScoutPeer } from '../../workers/scout/scout-peer.js';
import { ensureTestModels } from '../helpers/models.js';
import {
  getJson,
  spawnRelay,
  spawnTsx,
  waitFor,
  type RelayReady,
  type SpawnedProcess
} from './mesh-harness.js';

const PROMPT = 'The quick brown fox said that the river';
const MAX_TOKENS = 48;
/** The mesh's draft length, and its lookahead (the mesh default: one draft length). */
const DRAFT_LENGTH = 8;
const LOOKAHEAD = DRAFT_LENGTH;

/** A draft source that ends its session explicitly (the mesh's scout sources do). */
type SessionSource = DraftSource & { end(): void };

/** Wraps a scout source to record the budget the engine sent with each draft call. */
function recordingBudgets(source: SessionSource | null) {
  const budgets: Array<DraftBudget | undefined> = [];
  if (!source) return { source: null, budgets };
  const wrapped: SessionSource = {
    name: source.name,
    draft(req) {
      budgets.push(req.budget);
      return source.draft(req);
    },
    onVerified: (result) => source.onVerified?.(result),
    end: () => source.end()
  };
  return { source: wrapped, budgets };
}

interface ScoutReady extends Record<string, unknown> {
  peerId: string;
}

describe('cooperative generation: relay + oracle + Node scouts', () => {
  let relay: SpawnedProcess<RelayReady>;
  let engine: TargetEngine;
  let mesh: OracleMesh;
  let draftPath: string;
  const scouts: Array<SpawnedProcess<ScoutReady>> = [];
  const inProcess: Array<{ node: MeshNode; peer: ScoutPeer }> = [];
  let baseline: string;
  /** The lying scout's identity, made up front so the operator can vouch for it (no probation). */
  let liarKeyFile: string;

  const relayAddr = () => relay.ready.multiaddrs.find((a) => !a.includes('/ws/'))!;
  const spawnScout = async (extra: string[] = []) => {
    const s = await spawnTsx<ScoutReady>(
      'workers/scout/node-scout.ts',
      ['--relay', relayAddr(), '--model', draftPath, '--threads', '1', ...extra],
      'scout:ready'
    );
    scouts.push(s);
    return s;
  };

  async function generate(
    draftSource: SessionSource | null,
    onFirstTokens?: () => void,
    speculation: 'on' | 'auto' = 'on'
  ) {
    let text = '';
    let stats: GenerationStats | null = null;
    let isFirst = true;
    for await (const event of engine.generate({
      prompt: PROMPT,
      maxTokens: MAX_TOKENS,
      speculation,
      draftLength: DRAFT_LENGTH,
      draftSource
    })) {
      if (event.type === 'tokens') {
        text += event.text;
        if (isFirst) onFirstTokens?.();
        isFirst = false;
      } else {
        stats = event.stats;
        expect(event.text).toBe(text);
      }
    }
    draftSource?.end();
    return { text, stats: stats! };
  }

  beforeAll(async () => {
    const models = await ensureTestModels();
    draftPath = models.draftPath;
    engine = await createTargetEngine({ modelPath: models.targetPath, threads: 1 });
    relay = await spawnRelay();
    const dataDir = mkdtempSync(join(tmpdir(), 'shard-coop-'));
    liarKeyFile = join(dataDir, 'liar.key');
    const liarId = peerIdFromPrivateKey((await loadOrCreateKey(liarKeyFile)).key).toString();
    // Scouts pass golden tickets on probation (seconds) before the default floor leases them;
    // the liar is vouched for (`trustedScouts`) so it is leased without probation, which it
    // would fail.
    mesh = await createOracleMesh({
      engine,
      relays: [relayAddr()],
      announceSeconds: 1,
      draftModelPath: draftPath,
      dataDir,
      draftLength: DRAFT_LENGTH,
      trustedScouts: [liarId]
    });
    await mesh.start();
    let plain = '';
    for await (const event of engine.generate({
      prompt: PROMPT,
      maxTokens: MAX_TOKENS,
      speculation: 'off'
    })) {
      if (event.type === 'done') plain = event.text;
    }
    baseline = plain;
    await Promise.all([spawnScout(), spawnScout()]);
    await mesh.waitForScouts(2, AbortSignal.timeout(60_000));
  });

  afterAll(async () => {
    await Promise.all(scouts.map((s) => s.stop('SIGKILL')));
    for (const s of inProcess) {
      await s.peer.stop();
      await s.node.stop();
    }
    await mesh?.stop();
    await relay?.stop();
    await engine?.dispose();
  });

  it('speculation on, two scouts: output equals the oracle alone, drafts are accepted, and the scouts follow the context every round', async () => {
    const { source, budgets } = recordingBudgets(mesh.scoutDraftSource({ scouts: 2 }));
    expect(source).not.toBeNull();
    const { text, stats } = await generate(source);
    expect(text).toBe(baseline);
    expect(stats.draftSource).toMatch(/^scout:/);
    expect(stats.accepted).toBeGreaterThan(0);
    expect(stats.completionTokens).toBe(MAX_TOKENS);
    // A scout that only knew the prompt could offer at most LOOKAHEAD draft tokens in the whole
    // generation (its chain ends there, and dies at the first correction): more drafted tokens
    // mean the committed context reached the scouts after the first round.
    expect(stats.drafted).toBeGreaterThan(LOOKAHEAD);
    expect(stats.governor.reason).toBe(`speculation forced on (k=${DRAFT_LENGTH})`);
    // Forced on: no governor budget, every round drafts.
    expect(budgets.length).toBeGreaterThan(0);
    expect(budgets.every((b) => b === undefined)).toBe(true);
    const peers = mesh.peers().filter((p) => p.verified);
    expect(peers.length).toBeGreaterThanOrEqual(2);
    expect(peers.some((p) => p.accepted > 0)).toBe(true);
  });

  it('governor on (auto): the first round measures, budgets stay bounded, the reason is a documented one, output unchanged', async () => {
    // A single scout's source is new to the engine, so its governor starts with no measurements.
    const { source, budgets } = recordingBudgets(
      mesh.scoutDraftSource({ peerIds: [scouts[1].ready.peerId] })
    );
    expect(source).not.toBeNull();
    const { text, stats } = await generate(source, undefined, 'auto');
    expect(text).toBe(baseline);
    expect(stats.completionTokens).toBe(MAX_TOKENS);
    expect(stats.draftSource).toMatch(/^scout:/);
    // Round one drafts to measure, with the long measuring budget.
    expect(budgets[0]).toMatchObject({ waitMs: 1_000, targetStepMs: null });
    // A live scout answers within the measuring budget: the measuring round has drafts.
    expect(stats.drafted).toBeGreaterThan(0);
    for (const b of budgets) {
      expect(b).toBeDefined();
      expect(b!.waitMs).toBeGreaterThanOrEqual(0);
      expect(b!.waitMs).toBeLessThanOrEqual(1_000);
      expect(b!.acceptance).toBeGreaterThan(0);
      expect(b!.acceptance).toBeLessThan(1);
    }
    // Plain-step rounds send nothing to the source: draft calls <= rounds.
    expect(budgets.length).toBeLessThanOrEqual(stats.rounds);
    expect(GOVERNOR_REASON_FORMS.some((form) => form.test(stats.governor.reason))).toBe(true);
    expect(stats.governor.isSpeculating).toBe(!stats.governor.reason.startsWith('drafting off'));
    expect(stats.drafted).toBeLessThanOrEqual(budgets.length * DRAFT_LENGTH);
  });

  it('a scout killed mid-stream: the generation finishes correct and complete', async () => {
    const victim = await spawnScout();
    await mesh.waitForScouts(3, AbortSignal.timeout(60_000));
    const source = mesh.scoutDraftSource({ peerIds: [victim.ready.peerId] });
    expect(source).not.toBeNull();
    const { text, stats } = await generate(source, () => victim.proc.kill('SIGKILL'));
    expect(await victim.exited).toBeNull();
    expect(text).toBe(baseline);
    expect(stats.completionTokens).toBe(MAX_TOKENS);
    expect(mesh.peers().some((p) => p.peer_id === victim.ready.peerId)).toBe(false);
  });

  it('a lying scout lowers its acceptance rate and never changes the output', async () => {
    const liar = await spawnScout(['--lie', '--key-file', liarKeyFile]);
    await mesh.waitForScouts(3, AbortSignal.timeout(60_000));
    const honestId = scouts[0].ready.peerId;
    const honest = await generate(
      mesh.scoutDraftSource({ peerIds: [honestId], isGoverned: false })
    );
    const lying = await generate(
      mesh.scoutDraftSource({ peerIds: [liar.ready.peerId], isGoverned: false })
    );
    expect(lying.text).toBe(baseline);
    expect(honest.text).toBe(baseline);
    expect(lying.stats.drafted).toBeGreaterThan(0);
    expect(lying.stats.acceptanceRate).toBeLessThan(honest.stats.acceptanceRate);
    expect(lying.stats.acceptanceRate).toBeLessThan(0.2);
  });

  /** An in-process scout peer over real sockets, joined through the relay like the others. */
  async function inProcessScout(engine: DraftEngine) {
    const privateKey = await generateKeyPair('Ed25519');
    const node = await createMeshNode({ privateKey });
    const events: string[] = [];
    const peer = createScoutPeer({
      node,
      privateKey,
      engine,
      software: { name: 'test-scout', version: '0' },
      isAutoJoin: false,
      onEvent: (e) => events.push(e.type === 'oracle:refused' ? `refused:${e.reason}` : e.type)
    });
    await peer.start();
    await node.dial(multiaddr(relayAddr()));
    inProcess.push({ node, peer });
    return { node, peer, events };
  }

  it('a scout whose tokenizer differs from the target is refused at the handshake with the reason', async () => {
    const mismatched: DraftEngine = {
      name: 'other-vocab',
      tokenizerFingerprint: 'f'.repeat(64),
      async draft() {
        return [];
      },
      async dispose() {}
    };
    const { peer, node } = await inProcessScout(mismatched);
    const status = await peer.join(mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!);
    expect(status.status).toBe('refused');
    expect(status.reason).toMatch(
      /^tokenizer-mismatch: draft tokenizer f+ differs from the target tokenizer/
    );
    const seen = mesh.peers().find((p) => p.peer_id === node.peerId.toString());
    expect(seen?.verified ?? false).toBe(false);
    expect(mesh.scoutDraftSource({ peerIds: [node.peerId.toString()] })).toBeNull();
  });

  it('a peer flooding the oracle with handshake streams is dropped; other scouts keep serving', async () => {
    const { peer, node } = await inProcessScout({
      name: 'flooder',
      tokenizerFingerprint: engine.tokenizerFingerprint,
      async draft() {
        return [];
      },
      async dispose() {}
    });
    const oracleAddr = multiaddr(mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!);
    const oracleId = mesh.node.peerId.toString();
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const status = await peer.join(oracleAddr);
      outcomes.push(status.status);
      await node.hangUp(mesh.node.peerId).catch(() => undefined);
      // A fresh handshake each time: the scout peer forgets the oracle's answer once it saw the
      // disconnect (until then, a join returns the answer it has without a handshake).
      await waitFor('the flooder to forget the oracle', () =>
        peer.oracles().every((o) => o.peerId !== oracleId || o.status === 'error')
      );
    }
    expect(outcomes.slice(0, 6)).toEqual(Array(6).fill('welcome'));
    expect(outcomes.slice(7)).not.toContain('welcome');
    // Refused as banned, then hung up on a moment later (after the reply reached it).
    await waitFor('flooder hung up', () =>
      mesh.peers().every((p) => p.peer_id !== node.peerId.toString())
    );
    expect(mesh.scoutDraftSource({ peerIds: [node.peerId.toString()] })).toBeNull();
    const { text, stats } = await generate(
      mesh.scoutDraftSource({ peerIds: [scouts[0].ready.peerId], isGoverned: false })
    );
    expect(text).toBe(baseline);
    expect(stats.accepted).toBeGreaterThan(0);
  });

  it('a scout sending a malformed frame is dropped; the session, other scouts and the relay are unaffected', async () => {
    // Handshakes honestly, then answers every verify stream with a frame that breaks the schema.
    const { peer, node } = await inProcessScout({
      name: 'malformed',
      tokenizerFingerprint: engine.tokenizerFingerprint,
      async draft() {
        return [];
      },
      async dispose() {}
    });
    await node.unhandle(VERIFY_PROTOCOL);
    await node.handle(
      VERIFY_PROTOCOL,
      async (stream: Stream) => {
        const lp = lpStream(stream);
        await lp.read();
        await lp.write(
          new TextEncoder().encode('{"type":"draft","epoch":"zero","position":0,"tokens":[1]}')
        );
      },
      { runOnLimitedConnection: true }
    );
    const joined = await peer.join(mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!);
    expect(joined.status).toBe('welcome');
    const badId = node.peerId.toString();
    const goodId = scouts[0].ready.peerId;
    const { text, stats } = await generate(
      mesh.scoutDraftSource({ peerIds: [badId, goodId], isGoverned: false })
    );
    expect(text).toBe(baseline);
    expect(stats.accepted).toBeGreaterThan(0);
    expect(mesh.peers().some((p) => p.peer_id === badId)).toBe(false);
    expect(mesh.peers().find((p) => p.peer_id === goodId)?.verified).toBe(true);
    // The banned scout cannot come back.
    expect(
      (await peer.join(mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!)).status
    ).not.toBe('welcome');
    const health = await getJson<{ status: string; connectedPeers: number }>(
      relay.ready.httpPort,
      '/health'
    );
    expect(health.status).toBe('ok');
    expect(health.connectedPeers).toBeGreaterThanOrEqual(3);
  });
});
