/**
 * Supplies what js-libp2p 3 expects from Node 22+ when the process runs on Node 20.19+:
 * `Promise.withResolvers` and a global WHATWG `WebSocket`. Import this module first in every
 * Node entry point (relay, oracle, Node scout) so the project runs unchanged on Node 20, 22 and 24.
 */
import { WebSocket as UndiciWebSocket } from 'undici';

type Resolvers<T> = {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
};

const promiseCtor = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };
if (typeof promiseCtor.withResolvers !== 'function') {
  promiseCtor.withResolvers = function withResolvers<T>(): Resolvers<T> {
    let resolve!: Resolvers<T>['resolve'];
    let reject!: Resolvers<T>['reject'];
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const g = globalThis as unknown as { WebSocket?: unknown };
if (typeof g.WebSocket === 'undefined') {
  g.WebSocket = UndiciWebSocket;
}

/** True once the polyfills above are in place; importing for side effects is the usual use. */
export const isNodeCompatReady = true;
