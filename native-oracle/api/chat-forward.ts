/**
 * Chat forwarding to contributed oracles: when this oracle does not serve the requested model
 * (else a 404 `model_not_found`) or its queue is full (else a 503), the chat request goes to a
 * registered, healthy oracle/verifier node (native-oracle/contribution `activeNodes()`) whose
 * registration serves that model, and its answer is passed through.
 *
 * Rules, in order:
 * 1. never forward a request that was itself forwarded (`x-shard-forwarded`), so two oracles
 *    cannot bounce a request between them;
 * 2. the request's privacy envelope (`x-shard-privacy` or `shard.privacy`) is honoured: a node
 *    that cannot honour it (src/lib/protocol/privacy.ts `privacyExclusion`; contributed nodes
 *    declare no TEE and no encrypted computation) is never chosen; when the model is served only
 *    by such nodes the answer is this oracle's 400 `privacy_unsatisfiable` naming the need; the
 *    envelope travels in `x-shard-privacy`, so the node applies the same floor;
 * 3. an untrusted contributor's endpoint gets the SSRF guard (workflows/ssrf.ts); operator-trusted
 *    contributors may use internal addresses;
 * 4. the node is asked to attest its answer (`x-shard-attest: 1`); a non-streamed answer is
 *    accepted only with a valid attestation by the node's registered key (else the next node is
 *    tried); a streamed answer is passed through and its final chunk says whether it verified;
 * 5. the reply records where it ran: `shard.served_by = { node_id, endpoint, contributor,
 *    attestation_verified }` and header `x-shard-served-by: <node_id>`.
 * A node that fails (network, non-2xx, bad attestation) is skipped; when none answers, the caller
 * gives its own answer (the 404 or 503 it would have given).
 *
 * Wiring: the contribution plugin attaches a forwarder to the router (`attachChatForwarder`);
 * the chat route asks `chatForwarderFor(router)` (no server option needed).
 */
import { fetch as undiciFetch } from 'undici';
import {
  ATTESTATION_REQUEST_HEADER,
  checkStepAttestation
} from '../../src/lib/protocol/contribution.js';
import {
  PRIVACY_HEADER,
  describePrivacyRequirement,
  encodePrivacyHeader,
  parsePrivacy,
  parsePrivacyHeader,
  privacyExclusion,
  privacySupportOf,
  type PrivacyEnvelope
} from '../../src/lib/protocol/privacy.js';
import { createLogger } from '../../src/lib/server/log.js';
import type { ActiveNode } from '../contribution/index.js';
import { toCapabilityDescriptor } from '../contribution/index.js';
import { BadRequestError } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { endpointRefusal, guardedAgent } from '../workflows/ssrf.js';

const log = createLogger('shard:oracle:chat:forward');

/** Marks a forwarded request: its receiver never forwards it again. */
export const FORWARDED_HEADER = 'x-shard-forwarded';
/** Names the node that served a forwarded answer. */
export const SERVED_BY_HEADER = 'x-shard-served-by';

/** Why this oracle forwards: the model is not served here, or the queue is full. */
export type ForwardReason = 'model_not_found' | 'queue_full';

export interface ChatForwarderOptions {
  /** The registry feed (live verifier/oracle nodes); read at every request. */
  nodes: () => ActiveNode[];
}

export interface ChatForwarder {
  /**
   * The answer of a node serving `model` for this request, or null when no node may or could
   * answer (the caller answers itself). Throws BadRequestError `privacy_unsatisfiable` when
   * nodes serve the model but none can honour the request's privacy envelope.
   */
  forward(input: {
    request: Request;
    body: Record<string, unknown>;
    model: string;
    reason: ForwardReason;
  }): Promise<Response | null>;
}

const forwarders = new WeakMap<Router, ChatForwarder>();

/** Attaches `forwarder` to the chat route of `router` (called by the contribution plugin). */
export function attachChatForwarder(router: Router, forwarder: ChatForwarder): void {
  forwarders.set(router, forwarder);
}

/** The forwarder attached to `router`, if any (called by the chat route per request). */
export function chatForwarderFor(router: Router): ChatForwarder | undefined {
  return forwarders.get(router);
}

/** The request's envelope, or null when it is invalid (the chat route reports that itself). */
function envelopeOf(request: Request, body: Record<string, unknown>): PrivacyEnvelope | null {
  const header = request.headers.get(PRIVACY_HEADER);
  if (header !== null && header.trim() !== '') {
    const parsed = parsePrivacyHeader(header);
    return parsed.ok ? parsed.privacy : null;
  }
  const parsed = parsePrivacy((body.shard as { privacy?: unknown } | undefined)?.privacy);
  return parsed.ok ? parsed.privacy : null;
}

interface ServedBy {
  node_id: string;
  endpoint: string;
  contributor: string;
  attestation_verified: boolean;
  attestation_failure?: string;
}

const servedBy = (node: ActiveNode, verified: boolean, why: string | null): ServedBy => ({
  node_id: node.node_id,
  endpoint: node.endpoint,
  contributor: node.contributor,
  attestation_verified: verified,
  ...(why ? { attestation_failure: why } : {})
});

/** POSTs the request to one node (SSRF-guarded unless its contributor is trusted). */
async function post(
  node: ActiveNode,
  body: Record<string, unknown>,
  privacy: PrivacyEnvelope,
  signal: AbortSignal
): Promise<Response> {
  const url = `${node.endpoint.replace(/\/+$/, '')}/v1/chat/completions`;
  const isGuarded = node.trust_tier !== 'verified_mesh';
  const refusal = isGuarded ? endpointRefusal(url) : null;
  if (refusal) throw new Error(`endpoint_refused:${refusal}`);
  const init = {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [PRIVACY_HEADER]: encodePrivacyHeader(privacy),
      [ATTESTATION_REQUEST_HEADER]: '1',
      [FORWARDED_HEADER]: '1'
    },
    body: JSON.stringify(body),
    signal
  };
  return isGuarded
    ? ((await undiciFetch(url, { ...init, dispatcher: guardedAgent() })) as unknown as Response)
    : fetch(url, init);
}

/** A non-streamed answer, accepted only with a valid attestation by the node's key. */
async function acceptJson(
  node: ActiveNode,
  body: Record<string, unknown>,
  res: Response
): Promise<Response | string> {
  const json = (await res.json()) as {
    choices?: Array<{ message?: { content?: string | null } }>;
    shard?: Record<string, unknown>;
  };
  const content = json.choices?.[0]?.message?.content ?? '';
  const why = checkStepAttestation(json.shard?.attestation, {
    signer: node.contributor,
    request: body,
    output: content
  });
  if (why) return `attestation_failed:${why}`;
  json.shard = { ...json.shard, served_by: servedBy(node, true, null) };
  return Response.json(json, { headers: { [SERVED_BY_HEADER]: node.node_id } });
}

/**
 * A streamed answer passed through chunk by chunk; before `data: [DONE]` one more chunk carries
 * `shard.served_by`, whose `attestation_verified` says whether the node attested the whole text.
 */
function passStream(node: ActiveNode, body: Record<string, unknown>, res: Response): Response {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = '';
  let content = '';
  let attestation: unknown;
  const final = () => {
    const why = checkStepAttestation(attestation, {
      signer: node.contributor,
      request: body,
      output: content
    });
    const chunk = {
      object: 'chat.completion.chunk',
      choices: [],
      shard: { served_by: servedBy(node, !why, why) }
    };
    return `data: ${JSON.stringify(chunk)}\n\n`;
  };
  const transform = new TransformStream<Uint8Array, Uint8Array>({
    transform(bytes, controller) {
      buffer += decoder.decode(bytes, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end + 2);
        buffer = buffer.slice(end + 2);
        const data = event.startsWith('data: ') ? event.slice(6).trim() : null;
        if (data === '[DONE]') controller.enqueue(encoder.encode(final()));
        else if (data) {
          try {
            const chunk = JSON.parse(data) as {
              choices?: Array<{ delta?: { content?: string } }>;
              shard?: { attestation?: unknown };
            };
            content += chunk.choices?.[0]?.delta?.content ?? '';
            if (chunk.shard?.attestation) attestation = chunk.shard.attestation;
          } catch {
            // Not JSON: passed through untouched; it cannot be part of the attested text.
          }
        }
        controller.enqueue(encoder.encode(event));
      }
    },
    flush(controller) {
      if (buffer) controller.enqueue(encoder.encode(buffer));
    }
  });
  return new Response(res.body!.pipeThrough(transform), {
    status: res.status,
    headers: {
      'content-type': res.headers.get('content-type') ?? 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      [SERVED_BY_HEADER]: node.node_id
    }
  });
}

/** Creates the forwarder over the registry feed. */
export function createChatForwarder(options: ChatForwarderOptions): ChatForwarder {
  return {
    async forward({ request, body, model, reason }) {
      // 1. A forwarded request is answered where it landed.
      if (request.headers.get(FORWARDED_HEADER)) return null;
      const privacy = envelopeOf(request, body);
      if (!privacy) return null;
      const serving = options.nodes().filter((n) => n.model_id === model);
      if (serving.length === 0) return null;
      // 2. Only nodes that honour the envelope.
      const honouring = serving.filter(
        (n) => privacyExclusion(privacy, privacySupportOf(toCapabilityDescriptor(n).tags)) === null
      );
      if (honouring.length === 0) {
        throw new BadRequestError(
          `model ${model} is served here only by contributed nodes that cannot honour the privacy envelope: the request needs ${describePrivacyRequirement(privacy)} (it is never run somewhere weaker)`,
          'privacy_unsatisfiable',
          PRIVACY_HEADER
        );
      }
      // 3-5. Least loaded first; the first node that answers acceptably serves the request.
      honouring.sort((a, b) => a.health.queue_depth - b.health.queue_depth);
      for (const node of honouring) {
        try {
          const res = await post(node, body, privacy, request.signal);
          if (!res.ok) {
            log.warn('forward target refused', { node: node.node_id, status: res.status });
            continue;
          }
          if (body.stream === true) return passStream(node, body, res);
          const accepted = await acceptJson(node, body, res);
          if (typeof accepted !== 'string') {
            log.info('chat forwarded', { node: node.node_id, model, reason });
            return accepted;
          }
          log.warn('forwarded answer refused', { node: node.node_id, why: accepted });
        } catch (err) {
          if (request.signal.aborted) return null;
          log.warn('forwarding failed', { node: node.node_id, error: (err as Error).message });
        }
      }
      return null;
    }
  };
}

/** True when `model` names what this oracle serves (its engine's id, `default` or nothing). */
const isServedHere = (model: unknown, modelId: string | undefined) =>
  modelId !== undefined &&
  (model === undefined || model === null || model === 'default' || model === modelId);

/**
 * Chat route hook, before generation: a node's answer when this oracle does not serve the
 * requested model, else null. Throws what `forward` throws.
 */
export function forwardUnserved(
  router: Router,
  request: Request,
  body: object,
  engine: { modelId: string } | null | undefined
): Promise<Response | null> {
  const forwarder = chatForwarderFor(router);
  const model = (body as { model?: unknown }).model;
  if (!forwarder || typeof model !== 'string' || isServedHere(model, engine?.modelId))
    return Promise.resolve(null);
  return forwarder.forward({
    request,
    body: body as Record<string, unknown>,
    model,
    reason: 'model_not_found'
  });
}

/** Chat route hook, when generation failed with `err`: a node's answer when the queue was full, else null. */
export function forwardWhenFull(
  router: Router,
  request: Request,
  body: object,
  modelId: string,
  err: unknown
): Promise<Response | null> {
  const forwarder = chatForwarderFor(router);
  if (!forwarder || (err as Error)?.name !== 'QueueFullError') return Promise.resolve(null);
  const model = (body as { model?: unknown }).model;
  return forwarder.forward({
    request,
    body: body as Record<string, unknown>,
    model: typeof model === 'string' && model !== 'default' ? model : modelId,
    reason: 'queue_full'
  });
}
