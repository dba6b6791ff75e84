/**
 * The contributor control plane over the mesh (`/shard/contribution/1.0.0`): a peer sends the
 * same signed envelope the `/v1/contribution/*` routes take, as one length-prefixed JSON frame,
 * and gets one frame back mirroring the HTTP body with its status: `{ ok: true, status, detail,
 * session | node | ... }` or `{ ok: false, status, detail, code }`. The envelope's own signed
 * `type` picks the message; the schema check and the service call are the routes' own
 * (contribution/dispatch.ts), so the transports cannot diverge. One request per stream; the
 * stream is closed after the reply. A refused message changes nothing (the service's rule).
 * Errors are logged with the peer, status and code, never the message contents.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { CONTRIBUTION_PROTOCOL } from '../../src/lib/protocol/mesh.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  dispatchContributionEnvelope,
  type ContributionMessageTarget
} from '../contribution/dispatch.js';
import { HttpError } from '../http/errors.js';
import type { MeshNode } from './node-peer.js';

const log = createLogger('shard:oracle:mesh');

/**
 * Largest request frame. The biggest legitimate envelope (a `node.register` with its endpoint,
 * model id and health fields, plus the 128-hex signature) is well under 4 KiB; 16 KiB leaves room
 * for long labels and URLs while a peer cannot make the oracle buffer more than that per stream.
 */
export const MAX_CONTRIBUTION_FRAME_BYTES = 16 * 1024;
/**
 * Whole exchange (read the request, answer it). The service call is a local SQLite write, so
 * the time is the peer's link: 10 s covers a slow relayed one, and a stalled peer cannot hold a
 * stream (and its buffer) longer than that.
 */
export const CONTRIBUTION_STREAM_TIMEOUT_MS = 10_000;
/**
 * Concurrent inbound contribution streams per connection: a contributor sends a few messages at
 * a time (heartbeats of its nodes); more only queue work on one SQLite file.
 */
export const MAX_INBOUND_CONTRIBUTION_STREAMS = 4;

/** The answer frame (the HTTP body plus its status). */
export type ContributionFrameReply = { ok: boolean; status: number; detail: string } & Record<
  string,
  unknown
>;

/** Runs one exchange's request bytes through the shared dispatch; never throws. */
export function answerContributionFrame(
  service: ContributionMessageTarget,
  frame: Uint8Array
): ContributionFrameReply {
  try {
    let envelope: unknown;
    try {
      envelope = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame));
    } catch {
      return refusal(400, 'invalid_request', 'invalid request: the frame is not UTF-8 JSON');
    }
    const { status, body } = dispatchContributionEnvelope(service, envelope);
    return { ...body, status };
  } catch (err) {
    if (err instanceof HttpError) return refusal(err.status, err.code, err.message);
    log.warn('contribution message failed', { error: (err as Error)?.name });
    return refusal(500, 'internal_error', 'the oracle could not process the message');
  }
}

function refusal(status: number, code: string, detail: string): ContributionFrameReply {
  return { ok: false, status, detail, code };
}

/** Handles `/shard/contribution/1.0.0` on a node while started (a libp2p Startable). */
export class ContributionHandler {
  readonly protocol = CONTRIBUTION_PROTOCOL;
  private isRunning = false;

  constructor(
    private readonly node: Pick<MeshNode, 'handle' | 'unhandle'>,
    private readonly service: ContributionMessageTarget
  ) {
    this.handleStream = this.handleStream.bind(this);
  }

  async start(): Promise<void> {
    await this.node.handle(this.protocol, this.handleStream, {
      runOnLimitedConnection: true,
      maxInboundStreams: MAX_INBOUND_CONTRIBUTION_STREAMS
    });
    this.isRunning = true;
  }

  async stop(): Promise<void> {
    await this.node.unhandle(this.protocol);
    this.isRunning = false;
  }

  isStarted(): boolean {
    return this.isRunning;
  }

  /** One exchange: read one frame, answer one frame, close. Never throws. */
  async handleStream(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const signal = AbortSignal.timeout(CONTRIBUTION_STREAM_TIMEOUT_MS);
    const lp = lpStream(stream, { maxDataLength: MAX_CONTRIBUTION_FRAME_BYTES });
    let reply: ContributionFrameReply;
    try {
      const frame = await lp.read({ signal });
      reply = answerContributionFrame(this.service, frame.subarray());
    } catch (err) {
      const name = (err as Error)?.name ?? 'Error';
      if (!/InvalidDataLength|InvalidMessageLength/.test(name)) {
        log.debug('contribution stream ended', { peer, error: name });
        stream.abort(err as Error);
        return;
      }
      reply = refusal(
        413,
        'payload_too_large',
        `frame larger than ${MAX_CONTRIBUTION_FRAME_BYTES} bytes`
      );
    }
    if (!reply.ok) {
      log.info('contribution message refused', { peer, status: reply.status, code: reply.code });
    }
    try {
      await lp.write(new TextEncoder().encode(JSON.stringify(reply)), { signal });
      await stream.close({ signal });
    } catch (err) {
      log.debug('contribution reply not delivered', { peer, error: (err as Error)?.name });
      stream.abort(err as Error);
    }
  }
}
