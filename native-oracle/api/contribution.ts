/**
 * HTTP routes of the contributor control plane (envelope errors `{ ok: false, detail, code }`,
 * shapes in docs/contribution.md, schemas in src/lib/protocol/contribution.ts):
 *   POST /v1/contribution/sessions               signed session.create     → 201 { ok, detail, session }
 *   POST /v1/contribution/participation          signed participation.set  → { ok, detail, session }
 *   POST /v1/contribution/register-node          signed node.register      → { ok, detail, node }
 *   POST /v1/contribution/heartbeat              signed node.heartbeat     → { ok, detail, node }
 *   POST /v1/contribution/deregister-node        signed node.deregister    → { ok, detail, node_id, session }
 *   GET  /v1/contribution/sessions/:id           the session and its nodes
 *   GET  /v1/contribution/nodes                  the registry feed (live verifier/oracle nodes)
 *   GET  /v1/contribution/credits/:identity      credit balance, per kind, rates, recent entries
 *   GET  /v1/contribution/identity               who the `x-shard-contributor` header names (401 without one)
 * The routes sit behind the server's /v1 guard (API key, rate limit). No route earns credit.
 */
import { ContributionEnvelopeSchemas } from '../../src/lib/protocol/contribution.js';
import { BadRequestError, HttpError, NotFoundError } from '../http/errors.js';
import { envelopeErrors, jsonResponse, type Router } from '../http/router.js';
import { jsonBody } from '../http/validate.js';
import type { ContributionService } from '../contribution/index.js';
import {
  contributionHttpError,
  dispatchContribution,
  type ContributionReply
} from '../contribution/dispatch.js';

export { contributionHttpError };

function mapped<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw contributionHttpError(err);
  }
}

const IDENTITY = /^[0-9a-f]{64}$/;

/** Registers the control-plane routes on `router` over `service`. */
export function registerContributionRoutes(router: Router, service: ContributionService): void {
  router.use('/v1/contribution/*', envelopeErrors);
  const schemas = ContributionEnvelopeSchemas;

  // Signed messages: the shared dispatch (contribution/dispatch.ts), also served over the mesh.
  const reply = ({ status, body }: ContributionReply, headers?: Record<string, string>) =>
    jsonResponse(body, status, headers);

  router.post('/v1/contribution/sessions', jsonBody(schemas['session.create']), (c) => {
    const result = dispatchContribution(service, 'session.create', c.req.valid('json'));
    const session = result.body.session as { session_id: string };
    return reply(result, { location: `/v1/contribution/sessions/${session.session_id}` });
  });

  router.post('/v1/contribution/participation', jsonBody(schemas['participation.set']), (c) =>
    reply(dispatchContribution(service, 'participation.set', c.req.valid('json')))
  );

  router.post('/v1/contribution/register-node', jsonBody(schemas['node.register']), (c) =>
    reply(dispatchContribution(service, 'node.register', c.req.valid('json')))
  );

  router.post('/v1/contribution/heartbeat', jsonBody(schemas['node.heartbeat']), (c) =>
    reply(dispatchContribution(service, 'node.heartbeat', c.req.valid('json')))
  );

  router.post('/v1/contribution/deregister-node', jsonBody(schemas['node.deregister']), (c) =>
    reply(dispatchContribution(service, 'node.deregister', c.req.valid('json')))
  );

  router.get('/v1/contribution/sessions/:id', (c) => {
    const session = service.session(c.req.param('id'));
    if (!session) throw new NotFoundError('session not found', 'session_not_found');
    return jsonResponse({ ok: true, session });
  });

  router.get('/v1/contribution/nodes', () => {
    const nodes = service.activeNodes();
    return jsonResponse({ ok: true, count: nodes.length, nodes });
  });

  router.get('/v1/contribution/credits/:identity', (c) => {
    const identity = c.req.param('identity').toLowerCase();
    if (!IDENTITY.test(identity)) {
      throw new BadRequestError('identity must be a contributor public key (64 hex characters)');
    }
    return jsonResponse(service.credits(identity));
  });

  router.get('/v1/contribution/identity', (c) => {
    const who = mapped(() =>
      service.identify({ method: c.req.method, path: c.req.path, headers: c.req.raw.headers })
    );
    if (!who) {
      throw new HttpError(
        'no x-shard-contributor header: sign one with your contributor key (see docs/contribution.md)',
        401,
        'contributor_required'
      );
    }
    return jsonResponse({ ok: true, ...who });
  });
}
