/* eslint-disable @typescript-eslint/no-explicit-any -- reply frames are asserted field by field; typing each adds nothing here */
/**
 * The contributor control plane over the mesh (`/shard/contribution/1.0.0`): a real oracle mesh
 * on loopback with a real contribution service on a temp SQLite file; an in-process libp2p peer
 * sends the same signed envelopes the HTTP routes take: session → participation → register a
 * verifier → heartbeat lists it in `activeNodes()`; replayed and wrongly signed envelopes are
 * refused with the HTTP codes and change nothing; a malformed frame gets an error frame.
 */
import '../../src/lib/server/node-compat.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createContributionService,
  type ContributionService
} from '../../native-oracle/contribution/index.js';
import { MAX_CONTRIBUTION_FRAME_BYTES } from '../../native-oracle/mesh/contribution-handler.js';
import {
  createMeshNode,
  createOracleMesh,
  type MeshNode,
  type OracleMesh
} from '../../native-oracle/mesh/index.js';
import {
  signEnvelope,
  type ContributionMessageType,
  type PayloadOf
} from '../../src/lib/protocol/contribution.js';
import { CONTRIBUTION_PROTOCOL } from '../../src/lib/protocol/mesh.js';

const key = new Uint8Array(32).fill(21);
const engine = { modelId: 'target-test', tokenizerFingerprint: 'a'.repeat(64), vocabularySize: 32 };

let dir: string;
let service: ContributionService;
let mesh: OracleMesh;
let peer: MeshNode;

const sign = <T extends ContributionMessageType>(type: T, payload: PayloadOf<T>) =>
  signEnvelope(type, payload, { secretKey: key });

/** Sends one frame on a fresh stream; resolves with the reply frame (parsed). */
async function exchange(frame: Uint8Array | object): Promise<Record<string, any>> {
  const tcp = mesh.multiaddrs().find((a) => a.includes('/tcp/') && !a.includes('p2p-circuit'))!;
  const stream = await peer.dialProtocol(multiaddr(tcp), CONTRIBUTION_PROTOCOL);
  const lp = lpStream(stream, { maxDataLength: 64 * 1024 });
  const bytes =
    frame instanceof Uint8Array ? frame : new TextEncoder().encode(JSON.stringify(frame));
  await lp.write(bytes);
  const reply = await lp.read({ signal: AbortSignal.timeout(5000) });
  await stream.close().catch(() => undefined);
  return JSON.parse(new TextDecoder().decode(reply.subarray()));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shard-contribution-mesh-'));
  service = createContributionService({ path: join(dir, 'contribution.sqlite') });
  mesh = await createOracleMesh({
    engine,
    dataDir: dir,
    draftModelPath: null,
    contribution: service
  });
  await mesh.start();
  peer = await createMeshNode({ isRelayListening: false });
});

afterAll(async () => {
  await peer?.stop();
  await mesh?.stop();
  service?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('contributor control plane over the mesh', () => {
  let sessionId: string;

  it('takes session → participation → register → heartbeat, and lists the node', async () => {
    const created = await exchange(sign('session.create', { label: 'mesh rig' }));
    expect(created).toMatchObject({ ok: true, status: 201, detail: 'session created' });
    sessionId = created.session.session_id;

    const on = await exchange(sign('participation.set', { session_id: sessionId, enabled: true }));
    expect(on).toMatchObject({ ok: true, status: 200, detail: 'participation enabled' });

    const reg = await exchange(
      sign('node.register', {
        session_id: sessionId,
        role: 'verifier',
        capacity: 1,
        price_per_1k_output_usd: 0.002,
        endpoint: 'http://127.0.0.1:9'
      })
    );
    expect(reg).toMatchObject({ ok: true, status: 200, detail: 'registered' });
    expect(service.activeNodes()).toEqual([]);

    const hb = await exchange(
      sign('node.heartbeat', {
        session_id: sessionId,
        role: 'verifier',
        queue_depth: 0,
        node_latency_ms: 24,
        uptime_seconds: 15
      })
    );
    expect(hb).toMatchObject({ ok: true, status: 200, detail: 'heartbeat accepted' });
    const active = service.activeNodes();
    expect(active).toHaveLength(1);
    expect(active[0]).toMatchObject({ node_id: reg.node.node_id, session_id: sessionId });
  });

  it('refuses a replayed and a wrongly signed envelope with the HTTP codes, changing nothing', async () => {
    const off = sign('participation.set', { session_id: sessionId, enabled: false });
    const on = sign('participation.set', { session_id: sessionId, enabled: true });
    expect(await exchange(off)).toMatchObject({ ok: true, detail: 'participation disabled' });
    expect(await exchange(on)).toMatchObject({ ok: true, detail: 'participation enabled' });
    const before = service.session(sessionId);

    const replay = await exchange(off);
    expect(replay).toMatchObject({ ok: false, status: 409, code: 'replayed_nonce' });
    expect(replay.detail).toContain('replay refused');

    const msg = sign('participation.set', { session_id: sessionId, enabled: true });
    const forged = await exchange({ ...msg, payload: { ...msg.payload, enabled: false } });
    expect(forged).toMatchObject({ ok: false, status: 401, code: 'invalid_signature' });

    expect(service.session(sessionId)).toEqual(before);
    expect(service.activeNodes()).toHaveLength(1);
    // The forged envelope's nonce was not consumed: the genuine one is still accepted.
    expect(await exchange(msg)).toMatchObject({ ok: true, detail: 'participation enabled' });
  });

  it('answers malformed frames with an error frame', async () => {
    const notJson = await exchange(new TextEncoder().encode('{not json'));
    expect(notJson).toMatchObject({ ok: false, status: 400, code: 'invalid_request' });

    const unknownType = await exchange({ ...sign('session.create', {}), type: 'node.reboot' });
    expect(unknownType).toMatchObject({ ok: false, status: 400, code: 'invalid_request' });

    const extra = await exchange({ ...sign('session.create', {}), extra: 1 });
    expect(extra).toMatchObject({ ok: false, status: 400, code: 'unknown_parameter' });
    expect(extra.detail).toContain('extra');

    const big = await exchange(new Uint8Array(MAX_CONTRIBUTION_FRAME_BYTES + 1).fill(32));
    expect(big).toMatchObject({ ok: false, status: 413, code: 'payload_too_large' });
    expect(service.activeNodes()).toHaveLength(1);
  });
});
