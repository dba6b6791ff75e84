/**
 * The browser scout's libp2p node: WebSockets to relays, circuit relay v2 so oracles behind the
 * same relays are reachable (and can reach it), WebRTC (signalled over those circuits) for direct
 * connections to oracles and peers, noise, yamux, identify, ping and gossipsub with the mesh's
 * leaf settings. Runs on the page's main thread: RTCPeerConnection does not exist in workers.
 *
 * The identity key is kept in IndexedDB so a returning scout keeps its peer id (oracles keep
 * per-peer stats); a fresh one is generated when storage is unavailable.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify, type Identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { ping, type Ping } from '@libp2p/ping';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { openDB } from 'idb';
import { createLibp2p, type Libp2p } from 'libp2p';
import { leafGossipOptions } from '../../../src/lib/protocol/mesh-gossip.js';

export type BrowserMeshNode = Libp2p<{ identify: Identify; ping: Ping; pubsub: GossipSub }>;

const DB_NAME = 'shard-scout';
const STORE = 'identity';
const KEY = 'libp2p-ed25519';

/** The scout's persistent identity key (IndexedDB), or a fresh one if storage fails. */
export async function loadIdentityKey(): Promise<PrivateKey> {
  try {
    const db = await openDB(DB_NAME, 1, {
      upgrade(database) {
        database.createObjectStore(STORE);
      }
    });
    const stored = (await db.get(STORE, KEY)) as Uint8Array | undefined;
    if (stored) return privateKeyFromProtobuf(stored);
    const key = await generateKeyPair('Ed25519');
    await db.put(STORE, privateKeyToProtobuf(key), KEY);
    db.close();
    return key;
  } catch {
    return generateKeyPair('Ed25519');
  }
}

/** Creates and starts the node; relays are dialled by the caller. */
export async function createBrowserMeshNode(privateKey: PrivateKey): Promise<BrowserMeshNode> {
  return createLibp2p({
    privateKey,
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [
      webSockets(),
      webRTC(),
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 })
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Browsers deny dialling private addresses by default; relays on a LAN or loopback are valid.
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping({ runOnLimitedConnection: true }),
      pubsub: gossipsub(leafGossipOptions())
    }
  });
}
