/**
 * `GET /v1/models` and `GET /v1/models/:id` in the OpenAI list/object shapes. The oracle serves
 * one target model; the list is empty when none is loaded. `GET /v1/models/default` answers the
 * served model too: `default` is the alias every generating route accepts as `model`.
 */
import { z } from 'zod';
import { apiSchemas } from './openai-schema.js';
import type { TargetEngine } from '../engine/index.js';
import { ModelNotFoundError } from '../http/errors.js';
import { jsonResponse, type Router } from '../http/router.js';
import { DEFAULT_MODEL_ALIAS } from './generation.js';

export const modelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    shard: z.object({
      tokenizer_fingerprint: z.string(),
      max_concurrent: z.number().int(),
      /** True for the generated test models (`npm run models`): their text is word salad. */
      model_is_generated_test_model: z.boolean()
    })
  })
  .register(apiSchemas, { id: 'Model' });

export const modelListSchema = z
  .object({ object: z.literal('list'), data: z.array(modelSchema) })
  .register(apiSchemas, { id: 'ModelList' });

/** Registers the model routes; `startedAtS` is the `created` time of the model object. */
export function registerModelRoutes(
  router: Router,
  options: { engine: TargetEngine | null; startedAtS: number; isGeneratedTestModel?: boolean }
): void {
  const describe = (engine: TargetEngine) => ({
    id: engine.modelId,
    object: 'model',
    created: options.startedAtS,
    owned_by: 'shard',
    shard: {
      tokenizer_fingerprint: engine.tokenizerFingerprint,
      max_concurrent: engine.maxConcurrent,
      model_is_generated_test_model: options.isGeneratedTestModel === true
    }
  });
  router.get('/v1/models', () =>
    jsonResponse({ object: 'list', data: options.engine ? [describe(options.engine)] : [] })
  );
  router.get('/v1/models/:id', (c) => {
    const { engine } = options;
    const id = c.req.param('id');
    if (!engine || (engine.modelId !== id && id !== DEFAULT_MODEL_ALIAS)) {
      throw new ModelNotFoundError(id);
    }
    return jsonResponse(describe(engine));
  });
}
