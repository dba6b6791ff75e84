/**
 * Plain-words views of the oracle's peers for the network page: what role a peer plays and how
 * the oracle is linked to it, read from its multiaddrs and the oracle's topology. Pure functions.
 */
import type { Peer, Topology } from '$lib/protocol/chat.js';

export type LinkKind = 'webrtc' | 'relayed' | 'websockets' | 'tcp' | 'other';

export const LINK_LABELS: Record<LinkKind, string> = {
  webrtc: 'WebRTC (direct)',
  relayed: 'relayed circuit',
  websockets: 'WebSockets',
  tcp: 'TCP',
  other: 'other'
};

/** How one connection runs, from its remote multiaddr (the most specific transport wins). */
export function linkKindOf(addr: string): LinkKind {
  if (/\/webrtc(\/|$)/.test(addr)) return 'webrtc';
  if (addr.includes('/p2p-circuit')) return 'relayed';
  if (/\/wss?(\/|$)/.test(addr)) return 'websockets';
  if (/\/tcp\//.test(addr)) return 'tcp';
  return 'other';
}

/** The distinct link kinds of a peer's connections, in a stable order. */
export function linkKindsOf(peer: Peer): LinkKind[] {
  const kinds = new Set((peer.addrs ?? []).map(linkKindOf));
  return (Object.keys(LINK_LABELS) as LinkKind[]).filter((k) => kinds.has(k));
}

/** Peer ids named in multiaddrs (`/p2p/<id>`; the last one is the peer itself). */
export function peerIdOf(addr: string): string | null {
  const parts = addr.split('/p2p/');
  if (parts.length < 2) return null;
  const id = parts[parts.length - 1].split('/')[0];
  return id === '' ? null : id;
}

/** Relay peer ids the oracle is configured with or holds a circuit reservation on. */
export function relayIdsOf(topology: Topology | null): Set<string> {
  const ids = new Set<string>();
  for (const addr of topology?.relays ?? []) {
    const id = peerIdOf(addr);
    if (id) ids.add(id);
  }
  for (const addr of topology?.circuit_addrs ?? []) {
    const id = peerIdOf(addr.split('/p2p-circuit')[0]);
    if (id) ids.add(id);
  }
  return ids;
}

/**
 * The peer's role in words: the role it declared in the signed handshake (scouts), `relay` when
 * the topology names it as one, otherwise unknown (a peer that did not shake hands).
 */
export function roleOf(peer: Peer, relayIds: Set<string>): string {
  if (peer.role) return peer.role;
  if (relayIds.has(peer.peer_id)) return 'relay';
  return 'unknown';
}

/** A long peer id shortened for display (the full id stays in a title/tooltip). */
export function shortId(id: string): string {
  return id.length > 16 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id;
}
