/**
 * The oracle's handshake service: it answers `HANDSHAKE_PROTOCOL` streams. A scout sends its
 * signed hello; the oracle checks the signature against the connection's peer, the role, the
 * protocol version and the tokenizer (sketch or fingerprint), and answers `welcome` (the scout joins the
 * registry) or `refused` with a reason (`banned`, `tokenizer-mismatch`, ...). A peer that sends
 * a frame the protocol rejects, or floods handshakes, is refused and punished in the registry.
 *
 * `start()` registers the stream handler, `stop()` removes it (js-libp2p's ping is the model).
 */
import type { PeerId, PrivateKey, Startable, TypedEventTarget } from '@libp2p/interface';
import type { TargetEngine } from '../../engine/index.js';
import type { MeshNode } from '../node-peer.js';
import type { ScoutRegistry } from '../registry/index.js';
import { HandshakeService } from './handshake.js';

export interface HandshakeComponents {
  /** Where the handler is registered: the oracle's libp2p node. */
  registrar: Pick<MeshNode, 'handle' | 'unhandle'>;
  /** Bans, flood guard and failures are read and written here; accepted scouts join it. */
  registry: ScoutRegistry;
  /** The oracle's identity: signs its own hello (scouts check it against `peerId`). */
  privateKey: PrivateKey;
  peerId: PeerId;
}

export interface HandshakeInit {
  /**
   * The target model scouts draft for; its model id and fingerprint go into the oracle's hello.
   * A scout's tokenizer must match it: by sketch (same id → text table) when the scout sends one
   * and the engine can detokenize (`vocabularySize` and `detokenize` present), else by fingerprint.
   */
  engine: Pick<TargetEngine, 'modelId' | 'tokenizerFingerprint'> &
    Partial<Pick<TargetEngine, 'vocabularySize' | 'detokenize'>>;
}

export interface HandshakeEvents {
  /** A scout was welcomed (dispatched after the welcome was written); detail is its peer id. */
  'scout:join': CustomEvent<PeerId>;
}

export interface Handshake extends Startable, TypedEventTarget<HandshakeEvents> {
  /** The protocol id it answers: `HANDSHAKE_PROTOCOL`. */
  readonly protocol: string;
  /** Registers the handler on the node (which must be started). */
  start(): Promise<void>;
  /** Removes the handler; handshakes in flight finish. */
  stop(): Promise<void>;
}

/** Creates the handshake service; `start()` registers its handler on the node. */
export function createHandshake(components: HandshakeComponents, init: HandshakeInit): Handshake {
  return new HandshakeService(components, init);
}
