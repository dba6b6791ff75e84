/**
 * `GET /v1/models` and `GET /v1/models/:id` in the OpenAI list/object shapes. The oracle serves
 * one target model; the list is empty when none is loaded.
 */
import type { TargetEngine } from '../engine/index.js';
import { NotFoundError } from '../http/errors.js';
import { jsonResponse, type Router } from '../http/router.js';

/** Registers the model routes; `startedAtS` is the `created` time of the model object. */
export function registerModelRoutes(
  router: Router,
  options: { engine: TargetEngine | null; startedAtS: number }
): void {
  const describe = (engine: TargetEngine) => ({
    id: engine.modelId,
    object: 'model',
    created: options.startedAtS,
    owned_by: 'shard',
    shard: {
      tokenizer_fingerprint: engine.tokenizerFingerprint,
      max_concurrent: engine.maxConcurrent
    }
  });
  router.get('/v1/models', () =>
    jsonResponse({ object: 'list', data: options.engine ? [describe(options.engine)] : [] })
  );
  router.get('/v1/models/:id', (c) => {
    const { engine } = options;
    const id = c.req.param('id');
    if (!engine || engine.modelId !== id) {
      throw new NotFoundError(`model "${id}" does not exist on this oracle`);
    }
    return jsonResponse(describe(engine));
  });
}
