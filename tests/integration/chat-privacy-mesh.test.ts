/**
 * The privacy envelope's scout floor reaches the mesh lease (issue 9): an oracle with the mesh
 * plugin, a relay process and a Node scout. With floor `any` the scout drafts (the control);
 * with floor `none` (header or body) or `trusted` (no scout is operator-listed) no scout sees
 * the prompt, and a request that needs a TEE fails before any draft source is chosen.
 */
import '../../src/lib/server/node-compat.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OracleServer } from '../../native-oracle/server.js';
import { startMeshHttpStack, type MeshHttpStack } from './mesh-harness.js';

const MESSAGES = [
  { role: 'user' as const, content: 'Tell me about the river and the quick brown fox.' }
];

describe('the privacy envelope in chat, with a scout on the mesh', () => {
  let server: OracleServer;

  let stack: MeshHttpStack;

  beforeAll(async () => {
    stack = await startMeshHttpStack({ dataDirPrefix: 'shard-chat-privacy-mesh-', floor: 'any' });
    ({ server } = stack);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  async function chat(body: Record<string, unknown>, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-shard-speculation': 'on', ...headers },
      body: JSON.stringify({ messages: MESSAGES, max_tokens: 16, ...body })
    });
    const json = (await res.json()) as { error?: { code: string; param: string } };
    return { status: res.status, source: res.headers.get('x-shard-draft-source') ?? '', json };
  }

  it('floor any lets the scout draft; floor none or trusted keeps the prompt from it', async () => {
    const any = await chat({}, { 'x-shard-privacy': '{"scout_floor":"any"}' });
    expect(any.source).toMatch(/^scout:/);

    const noneHeader = await chat({}, { 'x-shard-privacy': '{"scout_floor":"none"}' });
    expect(noneHeader.status).toBe(200);
    expect(noneHeader.source).not.toMatch(/^scout:/);

    const noneBody = await chat({ shard: { privacy: { scout_floor: 'none' } } });
    expect(noneBody.status).toBe(200);
    expect(noneBody.source).not.toMatch(/^scout:/);

    const trusted = await chat({ shard: { privacy: { scout_floor: 'trusted' } } });
    expect(trusted.status).toBe(200);
    expect(trusted.source).not.toMatch(/^scout:/);

    const optOut = await chat({ shard: { allow_scouts: false, privacy: { scout_floor: 'any' } } });
    expect(optOut.source).not.toMatch(/^scout:/);
  });

  it('a request that needs a TEE is refused (400) instead of being drafted anywhere', async () => {
    const tee = await chat({ shard: { privacy: { requires_tee: true, scout_floor: 'any' } } });
    expect(tee.status).toBe(400);
    expect(tee.json.error?.code).toBe('privacy_unsatisfiable');
    const bad = await chat({}, { 'x-shard-privacy': '{"scout_floor":1}' });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.param).toBe('x-shard-privacy');
  });
});
