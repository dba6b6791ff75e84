/**
 * The scout worker's message edge: what the page may send to the worker's comlink API is checked
 * here before it reaches the engine service (service.ts). Two layers, both applied in
 * `scout.worker.ts`:
 *
 *  1. `guardEndpoint()` admits only comlink messages that call one of the service's methods
 *     (`APPLY` on a one-segment path naming a method, `RELEASE` of the root). Comlink itself would
 *     also run `GET`/`SET`/`CONSTRUCT` on any property path (`SET ['draft','__proto__','x']`
 *     pollutes a prototype) and throws outside its own try for a malformed `argumentList`. A
 *     refused message with an id is answered with a ScoutRequestError so the caller never hangs.
 *  2. `guardScoutService()` checks each method's arguments with zod (`draft` context ids,
 *     `k` within the mesh's draft limit, `prepare` options) and throws ScoutRequestError naming
 *     the argument; nothing invalid reaches an engine.
 *
 * Added for issue #10 (worker messages were not validated at the edge).
 */
import type { Endpoint } from 'comlink';
import { z } from 'zod';
import { MAX_DRAFT_TOKENS, MAX_TOKEN_ID } from '../../../src/lib/protocol/mesh.js';
import type { ScoutService } from './service.js';

/**
 * Longest context the page may ask a draft for, in tokens: far above any context window the
 * scout's draft models have (a few thousand), low enough that checking it stays cheap.
 */
export const MAX_WORKER_CONTEXT_TOKENS = 1 << 18;

/** A call the worker refuses: its argument (named in the message) is not what the API takes. */
export class ScoutRequestError extends Error {
  override name = 'ScoutRequestError';
}

const tokenId = z
  .number()
  .int()
  .min(0)
  .max(MAX_TOKEN_ID - 1);
const requestId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const engineKind = z.enum(['wllama', 'web-llm', 'prompt-lookup']);

const prepareOptions = z.strictObject({
  modelUrl: z.string().min(1).max(2048),
  preferredEngine: engineKind.nullish(),
  webLlmModelId: z.string().min(1).max(256).nullish(),
  targetTokenizerFingerprint: z.string().max(256).nullish(),
  threads: z.number().int().min(1).max(256).optional(),
  wllamaBackend: z.enum(['auto', 'cpu']).nullish(),
  modelHeaders: z.record(z.string().max(256), z.string().max(8192)).optional()
});

/** The arguments of every method the page may call, as tuples. */
export const ScoutCallSchemas = {
  subscribe: z.tuple([z.custom<(u: unknown) => void>((v) => typeof v === 'function')]),
  snapshot: z.tuple([]),
  prepare: z.tuple([prepareOptions]),
  choose: z.tuple([engineKind]),
  engineInfo: z.tuple([]),
  draft: z.tuple([
    z.array(tokenId).max(MAX_WORKER_CONTEXT_TOKENS),
    z.number().int().min(1).max(MAX_DRAFT_TOKENS),
    requestId.optional()
  ]),
  cancelDraft: z.tuple([requestId]),
  tokensPerSecond: z.tuple([]),
  dispose: z.tuple([])
} as const;

export type ScoutMethod = keyof typeof ScoutCallSchemas;
export const SCOUT_METHODS = Object.keys(ScoutCallSchemas) as ScoutMethod[];

/** Checks `args` of `method`; throws ScoutRequestError naming the first bad argument. */
export function checkScoutCall(method: string, args: readonly unknown[]): void {
  const schema = (ScoutCallSchemas as Record<string, z.ZodType>)[method];
  if (!schema) throw new ScoutRequestError(`${method.slice(0, 64)} is not a scout worker method`);
  const parsed = schema.safeParse([...args]);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `argument ${issue.path.join('.')}` : 'arguments';
  throw new ScoutRequestError(`${method}: ${where}: ${issue?.message ?? 'invalid'}`.slice(0, 300));
}

/** `service` with every method's arguments checked first (async methods reject instead). */
export function guardScoutService(service: ScoutService): ScoutService {
  const guarded: Record<string, unknown> = {};
  for (const method of SCOUT_METHODS) {
    const fn = (service as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
    guarded[method] = (...args: unknown[]) => {
      checkScoutCall(method, args);
      return fn.apply(service, args);
    };
  }
  return Object.freeze(guarded) as unknown as ScoutService;
}

const wireValue = z.union([
  z.strictObject({ type: z.literal('RAW'), value: z.unknown() }),
  // A callback (subscribe) travels as comlink's proxy handler carrying a MessagePort.
  z.strictObject({
    type: z.literal('HANDLER'),
    name: z.literal('proxy'),
    value: z.custom<MessagePort>(
      (v) => typeof MessagePort !== 'undefined' && v instanceof MessagePort
    )
  })
]);

const callMessage = z.union([
  z.strictObject({
    id: z.string().max(128),
    type: z.literal('APPLY'),
    path: z.tuple([z.enum(SCOUT_METHODS as [ScoutMethod, ...ScoutMethod[]])]),
    argumentList: z.array(wireValue).max(8)
  }),
  // comlink's releaseProxy() sends RELEASE without a path (the root).
  z.strictObject({
    id: z.string().max(128),
    type: z.literal('RELEASE'),
    path: z.tuple([]).optional()
  })
]);

/**
 * `endpoint` as comlink sees it, with every incoming message checked against `callMessage`
 * first. A refused message is answered (when it carries a string id) with comlink's error reply,
 * and is never handed to comlink.
 */
export function guardEndpoint(endpoint: Endpoint): Endpoint {
  const wrapped = new Map<EventListenerOrEventListenerObject, (ev: Event) => void>();
  return {
    postMessage: (message, transfer) => endpoint.postMessage(message, transfer),
    addEventListener(type, listener) {
      const deliver = (ev: Event) =>
        typeof listener === 'function' ? listener(ev) : listener.handleEvent(ev);
      const inner = (ev: Event) => {
        const data = (ev as MessageEvent | undefined)?.data as { id?: unknown } | null | undefined;
        const parsed = callMessage.safeParse(data);
        if (parsed.success) return deliver(ev);
        if (typeof data?.id !== 'string') return;
        const issue = parsed.error.issues[0];
        const error = new ScoutRequestError(
          `refused worker message at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`
        );
        endpoint.postMessage({
          id: data.id,
          type: 'HANDLER',
          name: 'throw',
          value: { isError: true, value: { name: error.name, message: error.message } }
        });
      };
      wrapped.set(listener, inner);
      endpoint.addEventListener(type, inner);
    },
    removeEventListener(type, listener) {
      const inner = wrapped.get(listener);
      if (inner) endpoint.removeEventListener(type, inner);
      wrapped.delete(listener);
    },
    ...(endpoint.start ? { start: () => endpoint.start!() } : {})
  };
}
