/** Round trips and connection kinds as /v1/system/peers shows them (the app's network page). */
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { connectionKind, RoundTrips } from '../../native-oracle/mesh/round-trip.js';

const RELAY = '12D3KooWNLpQNPdSzgWoZDecXpSY5dqUnCesypgyJervDAwQB4Vh';

describe('connectionKind', () => {
  it.each([
    [`/ip4/127.0.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`, undefined, 'relayed'],
    ['/ip4/10.0.0.2/tcp/50000', { bytes: 1n }, 'relayed'],
    ['/ip4/127.0.0.1/udp/5000/webrtc-direct/certhash/uEiA', undefined, 'webrtc'],
    [`/ip4/127.0.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit/webrtc`, undefined, 'webrtc'],
    ['/ip4/127.0.0.1/tcp/4101/ws', undefined, 'websockets'],
    ['/dns4/relay.example/tcp/443/tls/ws', undefined, 'websockets'],
    ['/ip4/127.0.0.1/tcp/4001', undefined, 'tcp'],
    ['/ip4/127.0.0.1/udp/4001/quic-v1', undefined, 'other']
  ])('%s (limits %o) is %s', (addr, limits, kind) => {
    expect(connectionKind({ remoteAddr: multiaddr(addr), limits })).toBe(kind);
  });
});

describe('RoundTrips.peer', () => {
  const trips = new RoundTrips({
    services: {} as never,
    addEventListener: () => undefined,
    removeEventListener: () => undefined
  });
  it('is the lowest measured connection, and null before any measurement', () => {
    const c = (rtt_ms: number | null) => ({ remote_addr: '/x', kind: 'tcp' as const, rtt_ms });
    expect(trips.peer('a', [c(null), c(40), c(12)])).toBe(12);
    expect(trips.peer('a', [c(null)])).toBeNull();
    expect(trips.peer('a', [])).toBeNull();
  });
});
