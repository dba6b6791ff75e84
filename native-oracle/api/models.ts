/**
 * `GET /v1/models` and `GET /v1/models/:id` in the OpenAI list/object shapes. The oracle serves
 * one target model; the list is empty when none is loaded.
 */
import type { TargetEngine } from '../engine/index.js';
import { NotFoundError } from '../http/errors.js';
import type { Router } from '../http/router.js';

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
  router.add({
    method: 'GET',
    path: '/v1/models',
    handler: () => ({
      json: { object: 'list', data: options.engine ? [describe(options.engine)] : [] }
    })
  });
  router.add({
    method: 'GET',
    path: '/v1/models/:id',
    handler: (ctx) => {
      const { engine } = options;
      if (!engine || engine.modelId !== ctx.params.id) {
        throw new NotFoundError(`model "${ctx.params.id}" does not exist on this oracle`);
      }
      return { json: describe(engine) };
    }
  });
}
