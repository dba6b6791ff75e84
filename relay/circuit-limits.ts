/**
 * Enforces the data and duration limits of relayed connections (constants.ts) at the relay,
 * without announcing them to the peers.
 *
 * Why not libp2p's own limits (`applyDefaultLimit`): a limit sent in the circuit handshake makes
 * both peers mark the relayed connection "limited", and libp2p then will not reuse it for a plain
 * `dialProtocol(peerId)` (it dials again instead). Shard's mesh opens verify sessions that way
 * over relayed connections, so announced limits broke relayed scouts. Enforcing here keeps the
 * peers' view of the connection unchanged.
 *
 * How: every CIRCUIT_SWEEP_MS the relay looks at its open circuit streams (hop streams from the
 * dialling peer, stop streams to the listening one; each carries one direction of a circuit into
 * the relay), counts the bytes that arrive on each from then on, and aborts a stream that passes
 * the data limit or has been open longer than the duration limit; the circuit's other half is
 * then closed by the relay's pipe. Bytes that arrive before a stream is first seen (at most one
 * sweep's worth) are not counted: the data limit is enforced with that slack.
 */
import type { Stream } from '@libp2p/interface';
import type { Libp2p } from 'libp2p';
import { createLogger } from '../src/lib/server/log.js';
import { CIRCUIT_SWEEP_MS } from './constants.js';

const log = createLogger('shard:relay:limits');

/** Protocols of the two halves of a relayed connection, as the relay sees them. */
const CIRCUIT_PROTOCOLS = new Set([
  '/libp2p/circuit/relay/0.2.0/hop',
  '/libp2p/circuit/relay/0.2.0/stop'
]);

/** A circuit-limit breach; the stream is aborted with it. */
export class CircuitLimitError extends Error {
  override name = 'CircuitLimitError';
}

export interface CircuitLimits {
  /** Bytes one direction of a relayed connection may carry. */
  dataLimitBytes: number;
  /** How long a relayed connection may stay open. */
  durationLimitMs: number;
}

/** Starts enforcing `limits` on `node`'s circuits; returns a function that stops it. */
export function enforceCircuitLimits(node: Libp2p, limits: CircuitLimits): () => void {
  const counted = new WeakMap<Stream, { bytes: number }>();

  function watch(stream: Stream): void {
    const count = { bytes: 0 };
    counted.set(stream, count);
    stream.addEventListener('message', (evt) => {
      count.bytes += evt.data.byteLength;
      if (count.bytes > limits.dataLimitBytes && stream.status === 'open') {
        log.info('relayed connection cut at its data limit', { bytes: count.bytes });
        stream.abort(
          new CircuitLimitError(`relayed connection passed ${limits.dataLimitBytes} bytes`)
        );
      }
    });
  }

  function sweep(): void {
    const now = Date.now();
    for (const conn of node.getConnections()) {
      for (const stream of conn.streams) {
        if (!CIRCUIT_PROTOCOLS.has(stream.protocol) || stream.status !== 'open') continue;
        if (!counted.has(stream)) watch(stream);
        if (now - stream.timeline.open > limits.durationLimitMs) {
          log.info('relayed connection closed at its duration limit', {
            ms: now - stream.timeline.open
          });
          stream.abort(
            new CircuitLimitError(
              `relayed connection open longer than ${limits.durationLimitMs} ms`
            )
          );
        }
      }
    }
  }

  const timer = setInterval(sweep, CIRCUIT_SWEEP_MS);
  timer.unref();
  return () => clearInterval(timer);
}
