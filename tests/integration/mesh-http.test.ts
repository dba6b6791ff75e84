/**
 * The mesh behind the OpenAI-compatible endpoint: the oracle HTTP server with `meshPlugin`, a
 * relay process and a Node scout process; the official `openai` client streams a completion
 * that must equal the oracle-alone output, and /v1/system/peers and /topology show the mesh.
 */
import '../../src/lib/server/node-compat.js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetEngine } from '../../native-oracle/engine/index.js';
import type { OracleMesh } from '../../native-oracle/mesh/index.js';
import type { OracleServer } from '../../native-oracle/server.js';
import { startMeshHttpStack, type MeshHttpStack, type SpawnedProcess } from './mesh-harness.js';

const MESSAGES = [
  { role: 'user' as const, content: 'Tell me about the river and the quick brown fox.' }
];

describe('mesh through the OpenAI-compatible HTTP API', () => {
  let scout: SpawnedProcess<{ peerId: string }>;
  let engine: TargetEngine;
  let mesh: OracleMesh;
  let server: OracleServer;
  let client: OpenAI;

  let stack: MeshHttpStack;

  beforeAll(async () => {
    stack = await startMeshHttpStack({ dataDirPrefix: 'shard-mesh-http-' });
    ({ scout, engine, mesh, server } = stack);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('a streamed completion drafted by a scout equals the plain one, and the stats say so', async () => {
    const plain = await client.chat.completions.create(
      { model: engine.modelId, messages: MESSAGES, max_tokens: 40 },
      { headers: { 'x-shard-speculation': 'off' } }
    );
    const baseline = plain.choices[0].message.content;
    expect(baseline?.length).toBeGreaterThan(0);

    const stream = await client.chat.completions.create(
      { model: engine.modelId, messages: MESSAGES, max_tokens: 40, stream: true },
      { headers: { 'x-shard-speculation': 'on' } }
    );
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
    expect(streamed).toBe(baseline);

    const { data, response } = await client.chat.completions
      .create(
        { model: engine.modelId, messages: MESSAGES, max_tokens: 40 },
        { headers: { 'x-shard-speculation': 'on' } }
      )
      .withResponse();
    expect(data.choices[0].message.content).toBe(baseline);
    expect(response.headers.get('x-shard-draft-source')).toMatch(/^scout:/);
    expect(Number(response.headers.get('x-shard-accepted'))).toBeGreaterThan(0);
  });

  it('a request that keeps its prompt from scouts is drafted by the oracle itself', async () => {
    const viaBody = await client.chat.completions
      .create(
        {
          model: engine.modelId,
          messages: MESSAGES,
          max_tokens: 16,
          // @ts-expect-error Shard extension field, ignored by other OpenAI servers
          shard: { allow_scouts: false }
        },
        { headers: { 'x-shard-speculation': 'on' } }
      )
      .withResponse();
    expect(viaBody.response.headers.get('x-shard-draft-source') ?? '').not.toMatch(/^scout:/);

    const viaHeader = await client.chat.completions
      .create(
        { model: engine.modelId, messages: MESSAGES, max_tokens: 16 },
        { headers: { 'x-shard-speculation': 'on', 'x-shard-allow-scouts': 'false' } }
      )
      .withResponse();
    expect(viaHeader.response.headers.get('x-shard-draft-source') ?? '').not.toMatch(/^scout:/);

    const allowed = await client.chat.completions
      .create(
        { model: engine.modelId, messages: MESSAGES, max_tokens: 16 },
        { headers: { 'x-shard-speculation': 'on', 'x-shard-allow-scouts': 'true' } }
      )
      .withResponse();
    expect(allowed.response.headers.get('x-shard-draft-source')).toMatch(/^scout:/);

    const bad = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-shard-allow-scouts': 'maybe' },
      body: JSON.stringify({ messages: MESSAGES, max_tokens: 4 })
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(
      /x-shard-allow-scouts must be true or false/
    );
  });

  it('/v1/system/peers and /v1/system/topology show the mesh', async () => {
    type PeerView = {
      peer_id: string;
      verified: boolean;
      role: string;
      rtt_ms: number | null;
      connections: Array<{ remote_addr: string; kind: string; rtt_ms: number | null }>;
    };
    const peers = (await (await fetch(`${server.url}/v1/system/peers`)).json()) as {
      peers: PeerView[];
    };
    const seen = peers.peers.find((p) => p.peer_id === scout.ready.peerId);
    expect(seen).toMatchObject({ verified: true, role: 'scout' });
    // Every peer has its connections with their kind; the scout's round trip was measured
    // (a ping when it connected), a loopback trip of well under a second.
    for (const peer of peers.peers) {
      expect(peer.connections.length).toBeGreaterThan(0);
      for (const c of peer.connections) {
        expect(['webrtc', 'relayed', 'websockets', 'tcp']).toContain(c.kind);
        expect(c.remote_addr.startsWith('/')).toBe(true);
      }
    }
    // The scout dialled the relay over TCP and reached the oracle through it (a circuit) or
    // directly: either way the oracle names the kind.
    expect(seen!.connections.map((c) => c.kind).some((k) => k === 'relayed' || k === 'tcp')).toBe(
      true
    );
    expect(seen!.rtt_ms).not.toBeNull();
    expect(seen!.rtt_ms!).toBeGreaterThanOrEqual(0);
    expect(seen!.rtt_ms!).toBeLessThan(1000);
    const topology = (await (await fetch(`${server.url}/v1/system/topology`)).json()) as {
      shard_peer_id: string;
      listen_addrs: string[];
    };
    expect(topology.shard_peer_id).toBe(mesh.peerId);
    expect(topology.listen_addrs.every((a) => a.endsWith(`/p2p/${mesh.peerId}`))).toBe(true);
  });
});
