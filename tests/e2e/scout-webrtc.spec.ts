/**
 * The browser scout reaches the oracle directly over WebRTC in Debian's Chromium: the page dials
 * the relay over WebSockets, upgrades its relayed circuit to the oracle to a WebRTC connection
 * (node-datachannel on the oracle's side), says so on the page, and the oracle's verify stream
 * runs over that direct connection: a completion uses the scout's drafts and equals the
 * oracle-alone output. Where the browser has no WebRTC, the scout stays on the relayed circuit
 * and still drafts (graceful fallback).
 */
import { expect, test } from '@playwright/test';
import { startScouting } from './helpers/scout-page.js';
import { chatWithStats } from './helpers/chat.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

let stack: MeshStack;

// One stack per test: a scout from an earlier test must not linger in the oracle's peer list.
test.beforeEach(async () => {
  stack = await startMeshStack();
});

test.afterEach(async () => {
  await stack?.close();
});

const chat = (maxTokens: number, speculation: 'on' | 'off') =>
  chatWithStats(stack, maxTokens, speculation);

test('the scout upgrades its relayed circuit to a direct WebRTC connection and drafts over it', async ({
  page
}) => {
  await startScouting(page, stack.url);
  const scoutId = (await page.getByTestId('scout-id').textContent())?.trim();
  expect(scoutId).toBeTruthy();

  // The page says how it reaches the oracle, from the libp2p connection's remote address.
  const link = page.getByTestId('oracle-link');
  await expect(link).toHaveText('direct (WebRTC)');
  await expect(link).toHaveAttribute('data-connection', 'direct');
  await expect(link).toHaveAttribute('data-remote-addr', /\/webrtc\//);
  await expect(page.getByTestId('scout-log')).toContainText('Direct WebRTC connection to oracle');

  // The oracle sees the scout on a WebRTC connection too (not only on a relayed circuit).
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));
  const seen = stack.mesh.peers().find((p) => p.peer_id === scoutId);
  expect(seen).toMatchObject({ role: 'scout', verified: true });
  expect(seen!.addrs.some((a) => a.includes('/webrtc'))).toBe(true);

  const plain = await chat(32, 'off');
  const drafted = await chat(32, 'on');
  expect(drafted.text).toBe(plain.text);
  // The oracle labels a scout by the last 8 characters of its peer id.
  expect(drafted.draftSource).toBe(`scout:${scoutId!.slice(-8)}`);
  expect(drafted.drafted).toBeGreaterThan(0);
  expect(drafted.accepted).toBeGreaterThan(0);

  // The oracle's verify streams ran over the direct connection, none over a relayed circuit.
  const streams = page.getByTestId('verify-streams');
  await expect(streams).not.toHaveAttribute('data-direct', '0');
  await expect(streams).toHaveAttribute('data-relayed', '0');
  await expect(link).toHaveAttribute('data-connection', 'direct');
});

test('without WebRTC in the browser the scout stays relayed and still drafts', async ({ page }) => {
  // A browser with WebRTC turned off (policy or extension): RTCPeerConnection is gone.
  await page.addInitScript(() => {
    Reflect.deleteProperty(globalThis, 'RTCPeerConnection');
  });
  await startScouting(page, stack.url);
  const scoutId = (await page.getByTestId('scout-id').textContent())?.trim();

  const link = page.getByTestId('oracle-link');
  await expect(link).toHaveText('relayed');
  await expect(link).toHaveAttribute('data-remote-addr', /\/p2p-circuit\//);
  await expect(page.getByTestId('scout-log')).toContainText('staying relayed');

  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));
  const seen = stack.mesh.peers().find((p) => p.peer_id === scoutId);
  expect(seen).toMatchObject({ role: 'scout', verified: true });
  expect(seen!.addrs.some((a) => a.includes('/webrtc'))).toBe(false);

  const plain = await chat(32, 'off');
  const drafted = await chat(32, 'on');
  expect(drafted.text).toBe(plain.text);
  expect(drafted.draftSource).toBe(`scout:${scoutId!.slice(-8)}`);
  expect(drafted.accepted).toBeGreaterThan(0);
  const streams = page.getByTestId('verify-streams');
  await expect(streams).not.toHaveAttribute('data-relayed', '0');
  await expect(streams).toHaveAttribute('data-direct', '0');
});
