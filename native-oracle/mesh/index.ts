/**
 * The oracle's libp2p peer: it joins relays, advertises drafting work on `shard-work`, accepts
 * scouts through the signed handshake (refusing a tokenizer that differs from the target's),
 * keeps a registry of eligible scouts, and leases them to generation sessions as a remote
 * `DraftSource`. Scouts that break the protocol are disconnected and banned for a while; the
 * sessions they served carry on with the others, the oracle's own drafting or plain decoding.
 *
 * Units: `handshake/` (the handshake protocol handler), `registry/` (records, bans, flood guard,
 * leasing), `scout-link.ts` (one verify stream), `draft-source.ts` (one session's draft source),
 * `oracle-mesh.ts` (node lifecycle, announcements, topology; implements this contract).
 *
 * Wiring into the HTTP server: `createOracleServer({ ..., plugins: [meshPlugin(mesh)] })`.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import type { DraftSource, TargetEngine } from '../engine/index.js';
import type { RemoteDraftSource } from './draft-source.js';
import { createMeshNode, type MeshNode } from './node-peer.js';
import { OracleMeshService } from './oracle-mesh.js';

export { createMeshNode, type MeshNode } from './node-peer.js';

export interface OracleMeshOptions {
  /**
   * The target engine scouts draft for: its model id and tokenizer fingerprint go into the
   * hello and announcements; draft token ids at or above its `vocabularySize` are an offence.
   */
  engine: Pick<TargetEngine, 'modelId' | 'tokenizerFingerprint' | 'vocabularySize'>;
  /** Relay multiaddrs to join (with /p2p/<id>); re-dialled every `reconnectSeconds`. */
  relays?: string[];
  /** Own listen addresses; default TCP on 127.0.0.1, any port. */
  listen?: string[];
  /** The oracle's identity; default a fresh Ed25519 key. */
  privateKey?: PrivateKey;
  /**
   * Scouts leased per generation session; default 1. Greedy scouts on the same draft model
   * produce the same chain, so a second one only hedges against a slow or failing first.
   */
  scoutsPerSession?: number;
  /** Draft tokens per verify round asked of scouts; default 8. */
  draftLength?: number;
  /**
   * How far scouts may draft past the committed context; default draftLength. Larger values let
   * a scout keep drafting while the oracle verifies, which pays when whole rounds are accepted
   * and the scout has its own CPU.
   */
  lookahead?: number;
  /** Speculation governor of the scout draft source; default true. */
  isGoverned?: boolean;
  /** Seconds between work announcements; default 5. */
  announceSeconds?: number;
  /** Seconds between relay re-dials; default 20. */
  reconnectSeconds?: number;
  /** Sessions one scout serves at once; default 2. */
  maxSessionsPerScout?: number;
}

/** A connected peer as /v1/system/peers shows it (snake_case like the rest of the API). */
export interface MeshPeerInfo {
  peer_id: string;
  addrs: string[];
  role: string | null;
  connected_at: number;
  last_seen_at: number;
  verified: boolean;
  handshake_failures: number;
  tokenizer_fingerprint: string | null;
  draft_tokens_per_second: number | null;
  sessions: number;
  drafted: number;
  accepted: number;
  acceptance_rate: number;
  [field: string]: unknown;
}

export interface ScoutDraftSourceRequest {
  /** Whether the request allows scouts to see its prompt; false returns null. Default true. */
  isPromptShareable?: boolean;
  /** Override the number of scouts for this session. */
  scouts?: number;
  /** Override the governor for this session (benchmarks compare both). */
  isGoverned?: boolean;
  /** Used in rounds where no scout draft is usable. */
  fallback?: DraftSource | null;
  /** Lease exactly these scouts (those of them that are eligible); default the best ones. */
  peerIds?: string[];
}

export interface OracleMesh {
  readonly node: MeshNode;
  readonly peerId: string;
  /**
   * Starts the node, registers the handshake handler, subscribes to the mesh topics, dials the
   * relays and starts announcing. Call once.
   */
  start(): Promise<void>;
  /** Stops announcing and re-dialling, removes the handler and stops the node. */
  stop(): Promise<void>;
  /** Own addresses, each ending in /p2p/<own id>. */
  multiaddrs(): string[];
  peers(): MeshPeerInfo[];
  topology(): Record<string, unknown>;
  /** Eligible scouts now (handshake passed, connected, not banned, below their session cap). */
  scoutCount(): number;
  /**
   * A draft source backed by leased scouts for one generation session, or null when no scout
   * is eligible or the prompt may not be shown to scouts. The session ends when generation
   * stops calling it (idle) or on `end()`. Throws `MeshNotStartedError` before `start()`.
   */
  scoutDraftSource(request?: ScoutDraftSourceRequest): RemoteDraftSource | null;
  /** Resolves once `n` scouts are eligible (or rejects on `signal`). */
  waitForScouts(n: number, signal?: AbortSignal): Promise<void>;
}

/** Creates the oracle's mesh peer (its node is created, not started); call `start()`. */
export async function createOracleMesh(options: OracleMeshOptions): Promise<OracleMesh> {
  const privateKey = options.privateKey ?? (await generateKeyPair('Ed25519'));
  const node = await createMeshNode({ privateKey, listen: options.listen, isStarted: false });
  return new OracleMeshService(node, privateKey, options);
}
