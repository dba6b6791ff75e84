/**
 * The handshake service's implementation (contract in `./index.ts`).
 *
 * One handshake, in order:
 *  1. A banned peer is refused with `banned` before anything is read (bans live in the ledger,
 *     so a ban outlives a restart of either side), and hung up on a moment later.
 *  2. The flood guard counts the attempt per peer (a flood is an offence, step 6) and per direct
 *     address (too many from one address is refused, not punished: fresh peer ids are free).
 *  3. The scout's signed hello is read (one frame, `MAX_HANDSHAKE_BYTES` at most) and opened:
 *     signature against the connection's peer key, peer id, freshness.
 *  4. `checkScoutHello` decides: a refusal (role, version, tokenizer) is answered with its reason
 *     and counted, without a ban (the scout may come back with the right model). The tokenizer
 *     is judged by the scout's sketch when it sends one (a web-llm tokenizer in another file
 *     form with the same id → text table passes), else by fingerprint.
 *  5. Accepted: the scout joins the registry (unless its address already holds
 *     `MAX_SCOUTS_PER_IP` scouts: refused), `welcome` is written, then `scout:join` fires.
 *  6. An offence (a frame the protocol rejects, an oversized frame, a flood) is answered with
 *     `refused` and its reason where the stream still takes it, then the stream is aborted and
 *     the peer punished (banned, hung up on).
 * Every reply carries the oracle's own signed hello, so the scout can check whom it talked to.
 */
import { randomBytes } from 'node:crypto';
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { TypedEventEmitter } from '@libp2p/interface';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import {
  checkScoutHello,
  decode,
  encode,
  HANDSHAKE_PROTOCOL,
  MAX_HANDSHAKE_BYTES,
  MESH_PROTOCOL_VERSION,
  MeshProtocolError,
  openHello,
  signHello,
  SignedHelloSchema,
  type HandshakeReply,
  type HelloPayload,
  type SignedHello
} from '../../../src/lib/protocol/mesh.js';
import { createLogger } from '../../../src/lib/server/log.js';
import {
  BANNED_HANGUP_DELAY_MS,
  HANDSHAKE_TIMEOUT_MS,
  HELLO_RESIGN_MS,
  MAX_INBOUND_HANDSHAKE_STREAMS,
  SOFTWARE
} from '../constants.js';
import { directIp } from '../node-peer.js';
import type { ScoutRegistry } from '../registry/index.js';
import type { Handshake, HandshakeComponents, HandshakeEvents, HandshakeInit } from './index.js';
import { engineTokenizer, type EngineTokenizer } from './oracle-tokenizer.js';

const log = createLogger('shard:oracle:mesh');

export class HandshakeService extends TypedEventEmitter<HandshakeEvents> implements Handshake {
  readonly protocol = HANDSHAKE_PROTOCOL;
  private readonly registry: ScoutRegistry;
  private readonly hello: OracleHello;
  private readonly tokenizer: EngineTokenizer | null;
  private isRunning = false;

  constructor(
    private readonly components: HandshakeComponents,
    private readonly init: HandshakeInit
  ) {
    super();
    this.registry = components.registry;
    this.hello = new OracleHello(components.privateKey, components.peerId, init.engine);
    this.tokenizer = engineTokenizer(init.engine);
    this.handleHandshake = this.handleHandshake.bind(this);
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(this.protocol, this.handleHandshake, {
      runOnLimitedConnection: true,
      maxInboundStreams: MAX_INBOUND_HANDSHAKE_STREAMS
    });
    this.isRunning = true;
  }

  async stop(): Promise<void> {
    await this.components.registrar.unhandle(this.protocol);
    this.isRunning = false;
  }

  isStarted(): boolean {
    return this.isRunning;
  }

  /** The stream handler: runs one handshake (steps in the file comment); never throws. */
  async handleHandshake(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_BYTES });
    const signal = AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS);
    const reply = async (r: HandshakeReply) => {
      await lp.write(encode(r, MAX_HANDSHAKE_BYTES), { signal });
      await stream.close({ signal }).catch(() => undefined);
    };
    try {
      // 1. Banned peers learn why, and nothing else happens.
      if (this.registry.isBanned(remote)) {
        await reply({
          type: 'refused',
          reason: 'banned',
          message: 'peer is banned by this oracle',
          hello: await this.hello.current()
        });
        setTimeout(() => this.registry.drop(remote), BANNED_HANGUP_DELAY_MS).unref?.();
        return;
      }
      // 2. Flood guard (throws too-many-streams), then the address's share.
      this.registry.noteHandshake(remote);
      const address = directIp(connection.remoteAddr);
      const crowded = this.registry.noteAddressHandshake(address);
      if (crowded) {
        await reply({
          type: 'refused',
          reason: 'too-many-streams',
          message: crowded,
          hello: await this.hello.current()
        });
        return;
      }
      // 3. The scout's hello.
      const payload = await this.readHello(lp, connection, signal);
      // 4. Refusals a scout can fix (the target's sketch is read on the first hello needing it).
      if (payload.tokenizerSketch) await this.tokenizer?.ready();
      const refusal = checkScoutHello(payload, {
        tokenizerFingerprint: this.init.engine.tokenizerFingerprint,
        tokenizer: this.tokenizer
      });
      if (refusal) {
        this.registry.noteRefusal(remote);
        log.info('scout refused', { peer: remote, reason: refusal.reason });
        await reply({ type: 'refused', ...refusal, hello: await this.hello.current() });
        return;
      }
      // 5. Welcome.
      const full = this.registry.admit(connection.remotePeer, payload, address);
      if (full) {
        log.info('scout refused', { peer: remote, reason: 'address full' });
        await reply({
          type: 'refused',
          reason: 'too-many-streams',
          message: full,
          hello: await this.hello.current()
        });
        return;
      }
      await reply({ type: 'welcome', hello: await this.hello.current() });
      log.info('scout joined', {
        peer: remote,
        draftTokensPerSecond: payload.draftTokensPerSecond
      });
      this.safeDispatchEvent('scout:join', { detail: connection.remotePeer });
    } catch (err) {
      // 6. Offences.
      await this.onError(err, stream, lp, remote, signal);
    }
  }

  private async readHello(
    lp: LengthPrefixedStream<Stream>,
    connection: Connection,
    signal: AbortSignal
  ): Promise<HelloPayload> {
    const buf = await lp.read({ signal });
    const hello = decode(SignedHelloSchema, buf.subarray(), MAX_HANDSHAKE_BYTES);
    const publicKey = connection.remotePeer.publicKey;
    if (!publicKey)
      throw new MeshProtocolError(
        'bad-signature',
        'peer id carries no public key (use Ed25519 identities)'
      );
    return openHello(hello, {
      expectedPeerId: connection.remotePeer.toString(),
      verify: (d, s) => publicKey.verify(d, s)
    });
  }

  private async onError(
    err: unknown,
    stream: Stream,
    lp: LengthPrefixedStream<Stream>,
    remote: string,
    signal: AbortSignal
  ): Promise<void> {
    const offence =
      err instanceof MeshProtocolError
        ? err
        : /InvalidDataLength|InvalidMessageLength/.test((err as Error).name)
          ? new MeshProtocolError('oversized', 'handshake frame too large', { cause: err })
          : null;
    if (!offence) {
      log.debug('handshake ended', { peer: remote, error: err });
      stream.abort(err as Error);
      return;
    }
    await lp
      .write(
        encode(
          {
            type: 'refused',
            reason: offence.reason,
            message: offence.message.slice(0, 500),
            hello: await this.hello.current()
          } satisfies HandshakeReply,
          MAX_HANDSHAKE_BYTES
        ),
        { signal }
      )
      .catch(() => undefined);
    stream.abort(offence);
    this.registry.punish(remote, offence);
  }
}

/** The oracle's own signed hello, re-signed every `HELLO_RESIGN_MS` so it stays fresh. */
class OracleHello {
  private signed: SignedHello | null = null;
  private signedAt = 0;

  constructor(
    private readonly privateKey: PrivateKey,
    private readonly peerId: PeerId,
    private readonly engine: HandshakeInit['engine']
  ) {}

  async current(): Promise<SignedHello> {
    if (this.signed && Date.now() - this.signedAt < HELLO_RESIGN_MS) return this.signed;
    this.signed = await signHello(
      {
        role: 'oracle',
        peerId: this.peerId.toString(),
        software: { ...SOFTWARE },
        protocolVersion: MESH_PROTOCOL_VERSION,
        models: [this.engine.modelId],
        tokenizerFingerprint: this.engine.tokenizerFingerprint,
        draftTokensPerSecond: null,
        sentAtMs: Date.now(),
        nonce: randomBytes(12).toString('hex')
      },
      (data) => this.privateKey.sign(data)
    );
    this.signedAt = Date.now();
    return this.signed;
  }
}
