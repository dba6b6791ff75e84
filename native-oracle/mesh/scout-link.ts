/**
 * The oracle's end of one verify stream: one scout, one generation session. It tells the scout
 * the committed context, receives its draft chain into a `ChainMirror`, and lets the draft source
 * wait (event-driven) for more drafted tokens. Any frame the protocol rejects closes the link and
 * reports the scout as offending; the session continues without it.
 *
 * Frames cross on the wire: a scout answers the context it had, and a context update may pass
 * its draft on the way. A new chain starting at a position the oracle already moved past, and
 * the rest of that chain, is therefore stale, not an offence: it is dropped and counted
 * (`staleFramesDropped`). A chain starting past anything the oracle told is still one.
 */
import type { PeerId, Stream } from '@libp2p/interface';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import { ChainMirror } from '../../src/lib/protocol/mesh-chain.js';
import {
  contextFrames,
  decode,
  encode,
  MAX_VERIFY_FRAME_BYTES,
  MeshProtocolError,
  ScoutFrameSchema,
  VERIFY_PROTOCOL,
  type OracleFrame
} from '../../src/lib/protocol/mesh.js';
import { createLogger } from '../../src/lib/server/log.js';
import { FRAME_FLOOD_SLACK, LINK_OPEN_TIMEOUT_MS } from './constants.js';
import type { MeshNode } from './node-peer.js';

const log = createLogger('shard:oracle:mesh:link');

export interface ScoutLinkOptions {
  /** Dials the verify stream: the oracle's node. */
  node: Pick<MeshNode, 'dialProtocol'>;
  peerId: PeerId;
  sessionId: string;
  k: number;
  lookahead: number;
  /**
   * The target's vocabulary size (`TargetEngine.vocabularySize`): a draft with a token id at or
   * above it is a protocol offence (`malformed`), never offered for verification.
   */
  vocabularySize: number;
  /** Called once when the scout broke the protocol (the registry drops the peer). */
  onOffence(peerId: string, err: MeshProtocolError): void;
  signal?: AbortSignal;
}

export class ScoutLink {
  readonly scoutId: string;
  readonly mirror: ChainMirror;
  isClosed = false;
  closeReason: string | null = null;
  /** Draft tokens received on this link. */
  tokensReceived = 0;
  /** Draft frames dropped as stale: a new chain from a committed end the oracle moved past. */
  staleFramesDropped = 0;
  /** Epoch of the last chain found stale: its later frames are dropped too. */
  private staleEpoch = -1;
  /** Draft frames since the last context update (flood guard). */
  private framesSinceSync = 0;
  /** Committed tokens the scout was told. */
  private told: number[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly openedAt = performance.now();
  private firstTokenAt: number | null = null;
  private sendTail: Promise<void> = Promise.resolve();
  private lastFrameAt: number | null = null;
  /** Smoothed milliseconds per drafted token along a chain; null before two frames. */
  draftMsPerToken: number | null = null;
  /**
   * Smoothed milliseconds from a context update or draft request to the first frame of the new
   * chain it made the scout start: the round trip plus one draft step (the wait rule's price
   * of a fresh chain). Null before the first new chain.
   */
  chainStartMs: number | null = null;
  /** When the last context update or draft request was sent; null once a new chain answered it. */
  private restartSentAt: number | null = null;

  private constructor(
    private readonly stream: Stream,
    private readonly lp: LengthPrefixedStream<Stream>,
    private readonly options: ScoutLinkOptions
  ) {
    this.scoutId = options.peerId.toString();
    this.mirror = new ChainMirror(options.lookahead);
    stream.addEventListener('close', () => this.markClosed('stream closed'));
  }

  /** Opens the verify stream and sends `open`. Throws when the scout cannot be reached in time. */
  static async open(options: ScoutLinkOptions): Promise<ScoutLink> {
    const signal = AbortSignal.any([
      AbortSignal.timeout(LINK_OPEN_TIMEOUT_MS),
      ...(options.signal ? [options.signal] : [])
    ]);
    const stream = await options.node.dialProtocol(options.peerId, VERIFY_PROTOCOL, {
      runOnLimitedConnection: true,
      signal
    });
    const lp = lpStream(stream, { maxDataLength: MAX_VERIFY_FRAME_BYTES });
    const link = new ScoutLink(stream, lp, options);
    await link.send([
      { type: 'open', sessionId: options.sessionId, k: options.k, lookahead: options.lookahead }
    ]);
    void link.readLoop();
    return link;
  }

  /** Draft tokens per second seen on this link (from the first draft on); 0 before any. */
  tokensPerSecond(): number {
    if (this.firstTokenAt === null || this.tokensReceived === 0) return 0;
    const seconds = Math.max(1e-3, (performance.now() - this.firstTokenAt) / 1000);
    return this.tokensReceived / seconds;
  }

  /** Milliseconds from opening the link to its first draft token; null before any. */
  firstDraftMs(): number | null {
    return this.firstTokenAt === null ? null : this.firstTokenAt - this.openedAt;
  }

  /**
   * Brings the scout's committed context up to `context`, first sending the pending verify
   * result (if any). Sends nothing when the scout already has it. Never throws; a failed write
   * closes the link.
   */
  sync(
    context: readonly number[],
    result?: { position: number; drafted: number; accepted: number }
  ): void {
    if (this.isClosed) return;
    const frames: OracleFrame[] = [];
    if (result) {
      const at = result.position + result.accepted;
      frames.push({
        type: 'verify-result',
        ...result,
        correction: at < context.length ? context[at] : null
      });
    }
    let p = 0;
    const told = this.told;
    const limit = Math.min(told.length, context.length);
    while (p < limit && told[p] === context[p]) p++;
    if (p < context.length || p < told.length) {
      const update = contextFrames(p, context.slice(p));
      frames.push(...update);
      this.told = context.slice();
      // The scout applies the frames one by one and may start a chain after each of them.
      for (const f of update) this.mirror.noteCommittedEnd(f.base + f.tokens.length);
      this.framesSinceSync = 0;
      this.restartSentAt = performance.now();
    }
    if (frames.length > 0) void this.send(frames);
  }

  /** Asks the scout to (re)start drafting at the end of what it was told. */
  request(k: number, lookahead: number): void {
    if (this.isClosed) return;
    this.mirror.setLookahead(lookahead);
    // The scout may answer at the position named here even when no context preceded it.
    this.mirror.noteCommittedEnd(this.told.length);
    this.restartSentAt = performance.now();
    void this.send([{ type: 'draft-request', position: this.told.length, k, lookahead }]);
  }

  /** Draft tokens continuing `context` (at most k), and whether waiting may give more. */
  lookup(context: readonly number[], k: number): { tokens: number[]; isLive: boolean } {
    if (this.isClosed) return { tokens: [], isLive: false };
    return this.mirror.lookup(context, k);
  }

  /** Resolves at the next draft frame, link close, abort or after `ms`, whichever comes first. */
  waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.isClosed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.listeners.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Ends the session politely; idempotent. */
  close(reason: string): void {
    if (this.isClosed) return;
    void this.send([{ type: 'close', reason }]).finally(() => {
      this.stream.close().catch(() => this.stream.abort(new Error(reason)));
    });
    this.markClosed(reason);
  }

  private markClosed(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    log.debug('scout link closed', {
      scout: this.scoutId,
      session: this.options.sessionId,
      reason
    });
    this.notify();
  }

  /** A new chain's first frame arrived at `now`: one sample of the chain start latency. */
  private noteChainStart(now: number): void {
    if (this.restartSentAt === null) return;
    const ms = now - this.restartSentAt;
    this.restartSentAt = null;
    this.chainStartMs =
      this.chainStartMs === null ? ms : this.chainStartMs + 0.25 * (ms - this.chainStartMs);
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Writes frames in call order (each write waits for the previous one). */
  private send(frames: OracleFrame[]): Promise<void> {
    const bytes = frames.map((f) => encode(f));
    this.sendTail = this.sendTail.then(async () => {
      try {
        await this.lp.writeV(bytes);
      } catch (err) {
        this.markClosed(`write failed: ${(err as Error).message}`);
      }
    });
    return this.sendTail;
  }

  /**
   * Records a draft frame in the mirror. Returns false when the frame is dropped as stale (see
   * the file comment); throws the mirror's MeshProtocolError for anything else it refuses,
   * including a new chain at a position past the committed end the scout was told.
   */
  private acceptDraft(frame: { epoch: number; position: number; tokens: number[] }): boolean {
    const isStaleChain = frame.epoch === this.staleEpoch && frame.epoch > this.mirror.epoch;
    if (!isStaleChain) {
      try {
        this.mirror.accept(frame);
        return true;
      } catch (err) {
        const isLate =
          err instanceof MeshProtocolError &&
          err.reason === 'stale-position' &&
          frame.position <= this.told.length;
        if (!isLate) throw err;
        this.staleEpoch = frame.epoch;
      }
    }
    this.staleFramesDropped += 1;
    log.debug('stale draft frame dropped', {
      scout: this.scoutId,
      session: this.options.sessionId,
      epoch: frame.epoch,
      position: frame.position,
      committedEnd: this.told.length
    });
    return false;
  }

  private async readLoop(): Promise<void> {
    try {
      while (!this.isClosed) {
        const buf = await this.lp.read();
        const frame = decode(ScoutFrameSchema, buf.subarray());
        if (frame.type === 'draft') {
          this.framesSinceSync += 1;
          if (this.framesSinceSync > this.options.lookahead + FRAME_FLOOD_SLACK) {
            throw new MeshProtocolError(
              'exceeds-lookahead',
              `${this.framesSinceSync} draft frames without a context update`
            );
          }
          const limit = this.options.vocabularySize;
          if (frame.tokens.some((t) => t >= limit)) {
            throw new MeshProtocolError(
              'malformed',
              `draft token id beyond the vocabulary of ${limit}`
            );
          }
          const epochBefore = this.mirror.epoch;
          if (!this.acceptDraft(frame)) continue;
          const now = performance.now();
          // Draft pace along one chain: time between frames over the tokens they carried.
          if (frame.epoch === epochBefore && this.lastFrameAt !== null) {
            const perToken = (now - this.lastFrameAt) / frame.tokens.length;
            this.draftMsPerToken =
              this.draftMsPerToken === null
                ? perToken
                : this.draftMsPerToken + 0.25 * (perToken - this.draftMsPerToken);
          }
          this.lastFrameAt = now;
          if (this.mirror.epoch !== epochBefore) this.noteChainStart(now);
          if (this.firstTokenAt === null) this.firstTokenAt = now;
          this.tokensReceived += frame.tokens.length;
          this.notify();
        } else if (frame.type === 'close') {
          this.markClosed(`scout closed: ${frame.reason}`);
        } else {
          this.markClosed(`scout error ${frame.reason}: ${frame.message}`);
        }
      }
    } catch (err) {
      if (this.isClosed) return;
      const offence =
        err instanceof MeshProtocolError
          ? err
          : (err as Error).name === 'InvalidDataLengthError' ||
              (err as Error).name === 'InvalidMessageLengthError'
            ? new MeshProtocolError('oversized', `frame exceeds ${MAX_VERIFY_FRAME_BYTES} bytes`, {
                cause: err
              })
            : null;
      if (offence) {
        log.warn('scout broke the verify protocol', {
          scout: this.scoutId,
          reason: offence.reason,
          message: offence.message
        });
        void this.send([
          { type: 'error', reason: offence.reason, message: offence.message.slice(0, 500) }
        ]).finally(() => this.stream.abort(offence));
        this.markClosed(`protocol error: ${offence.reason}`);
        this.options.onOffence(this.scoutId, offence);
      } else {
        this.markClosed(`read ended: ${(err as Error).message}`);
      }
    }
  }
}
