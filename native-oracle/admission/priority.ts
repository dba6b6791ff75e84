/**
 * Earned priority at the HTTP edge: for every guarded route (after the API-key guard, outside
 * the contributor control plane's own routes) the request's contributor identity is resolved
 * (a signed `x-shard-contributor` header, or an API key the operator mapped to a contributor),
 * and the request runs as that contributor, so the admission queue (queue.ts) can admit it
 * before consumers in credit order. A forged, stale or replayed header is refused with 401
 * `invalid_contributor_header` before any work: a bad identity never earns a place, and nothing
 * the request says about itself earns credit.
 *
 * `queueHeaders()` / `queueReport()` read how the request's generation was admitted, for the
 * `x-shard-queue-position` / `x-shard-queue-class` headers and the response's `shard.queue`.
 */
import { hasRouteHandler, type OracleMiddleware } from '../http/router.js';
import { currentClient, runAsClient, type AdmissionClient } from './client-context.js';

/** A contributor named by a request, with its credit balance. */
export interface IdentifiedContributor {
  identity: string;
  credit: number;
}

/**
 * Resolves the contributor of a request: null when it names none. Throws an HTTP error (401)
 * when it names one that does not check out.
 */
export type ContributorIdentifier = (request: {
  method: string;
  path: string;
  headers: Headers;
}) => IdentifiedContributor | null;

/** Paths whose routes read the contributor header themselves (they consume its nonce). */
const CONTROL_PLANE_PREFIX = '/v1/contribution/';

/**
 * Middleware for `/v1/*`, installed after the route guard: runs the route as the request's
 * client plus its contributor priority. `getIdentifier` is read per request; undefined = every
 * request is a consumer.
 */
export function createPriorityMiddleware(
  getIdentifier: () => ContributorIdentifier | undefined
): OracleMiddleware {
  return async (c, next) => {
    const identify = getIdentifier();
    if (!identify || !hasRouteHandler(c) || c.req.path.startsWith(CONTROL_PLANE_PREFIX))
      return next();
    const who = identify({ method: c.req.method, path: c.req.path, headers: c.req.raw.headers });
    const client: AdmissionClient = { id: currentClient()?.id ?? c.var.clientKey };
    if (who) {
      client.priority = {
        identity: who.identity,
        credit: who.credit,
        class: who.credit > 0 ? 'contributor' : 'consumer'
      };
    }
    await runAsClient(client, next);
  };
}

/** `x-shard-queue-position` and `x-shard-queue-class` of the current request's admission. */
export function queueHeaders(): Record<string, string> {
  const info = currentClient()?.admission;
  if (!info) return {};
  return { 'x-shard-queue-position': String(info.position), 'x-shard-queue-class': info.class };
}

/**
 * `{ queue: { class, position, waited_admissions, identity?, credit? } }` for a response's
 * `shard` object, or `{}` when the request did not pass the queue.
 */
export function queueReport(): { queue?: Record<string, unknown> } {
  const client = currentClient();
  const info = client?.admission;
  if (!info) return {};
  const who = client.priority;
  return {
    queue: { ...info, ...(who ? { identity: who.identity, credit: who.credit } : {}) }
  };
}
