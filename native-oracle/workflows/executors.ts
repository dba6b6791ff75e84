/**
 * Step executors: how one candidate runs one step. Three kinds:
 * - engine: the local TargetEngine (llama.cpp), greedy, JSON-schema grammar for planning;
 * - remote: a real HTTP POST to another oracle's /v1/chat/completions;
 * - extractive: BM25 + sentence extraction, no model at all.
 * Each returns text plus real token counts (usage) and latency; failures throw StepAttemptError
 * with the receipt's failure_reason (`request_failed:…`, `upstream_status:…`, `invalid_json:…`,
 * `missing_completion_text`, `engine_error:…`, `timeout`, `deadline_exceeded`, `cancelled`).
 */
import { fetch as undiciFetch } from 'undici';
import type { ChatMessage, GenerateOptions, TargetEngine } from '../engine/index.js';
import {
  ATTESTATION_REQUEST_HEADER,
  checkStepAttestation,
  StepAttestationSchema,
  type StepAttestation
} from '../../src/lib/protocol/contribution.js';
import type { SupplyTier } from '../../src/lib/protocol/policy.js';
import {
  encodePrivacyHeader,
  PRIVACY_HEADER,
  type PrivacyEnvelope
} from '../../src/lib/protocol/privacy.js';
import type { ModelMetadata } from '../../src/lib/protocol/receipts.js';
import { StepAttemptError } from './errors.js';
import { endpointRefusal, guardedAgent } from './ssrf.js';
import {
  countWords,
  extractivePlan,
  extractiveSummary,
  extractiveSynthesis,
  type ExtractiveSource
} from './extractive.js';
import type { WorkStepKind } from './ranking.js';

/** Structured inputs of a step, for executors that do not read prompts (extractive). */
export type StepInput =
  | { kind: 'planner'; question: string; sources: ExtractiveSource[] }
  | { kind: 'summarize_source'; question: string; focus: string[]; source: ExtractiveSource }
  | {
      kind: 'synthesize_brief';
      question: string;
      summaries: Array<{ source_id: string; title?: string | null; summary: string }>;
      sub_questions: Array<{ question: string; relevant_source_ids: string[] }>;
    };

export interface StepRequest {
  step_kind: WorkStepKind;
  messages: ChatMessage[];
  max_tokens: number;
  /** JSON schema the output must follow (planner); engines that support grammars enforce it. */
  json_schema?: object;
  input: StepInput;
  model: string | null;
  request_id: string;
  /**
   * The execution's privacy envelope. The ranking already chose a candidate that declares what
   * it requires; the local engine never shows workflow prompts to scouts, and a remote oracle is
   * sent it (header x-shard-privacy, plus x-shard-allow-scouts: false for scout floor none).
   */
  privacy: PrivacyEnvelope;
}

export interface StepResult {
  text: string;
  input_tokens: number;
  output_tokens: number;
  latency_ms: number;
  model_metadata: ModelMetadata;
  /** Set when the output is already structured (extractive planning). */
  structured?: unknown;
}

export interface StepExecutor {
  run(req: StepRequest, signal: AbortSignal): Promise<StepResult>;
}

/** Maps an abort to the failure reason carried by the signal (`timeout`, `deadline_exceeded`, `cancelled`). */
export function abortReason(signal: AbortSignal): string {
  const r = signal.reason as unknown;
  return r instanceof StepAttemptError ? r.reason : 'cancelled';
}

/** The local llama.cpp engine. */
export function createEngineExecutor(engine: TargetEngine): StepExecutor {
  return {
    async run(req, signal) {
      const started = performance.now();
      const options: GenerateOptions & { jsonSchema?: object } = {
        messages: req.messages,
        maxTokens: req.max_tokens,
        temperature: 0,
        signal,
        ...(req.json_schema ? { jsonSchema: req.json_schema } : {})
      };
      let text = '';
      let inputTokens = 0;
      let outputTokens = 0;
      let mode: string = 'standard';
      try {
        for await (const ev of engine.generate(options)) {
          if (ev.type === 'done') {
            text = ev.text;
            inputTokens = ev.stats.promptTokens;
            outputTokens = ev.stats.completionTokens;
            mode = ev.stats.mode;
          }
        }
      } catch (err) {
        if (signal.aborted) throw new StepAttemptError(abortReason(signal), { cause: err });
        const e = err as Error;
        throw new StepAttemptError(`engine_error:${e.name}:${e.message}`.slice(0, 300), {
          cause: err
        });
      }
      if (signal.aborted) throw new StepAttemptError(abortReason(signal));
      if (text.trim() === '') throw new StepAttemptError('missing_completion_text');
      return {
        text: text.trim(),
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        latency_ms: Math.round(performance.now() - started),
        model_metadata: {
          model_id: engine.modelId,
          inference_mode: mode,
          served_by: 'local',
          ...(req.json_schema ? { constrained: 'grammar' } : {})
        }
      };
    }
  };
}

export interface RemoteExecutorOptions {
  /** Base URL of the remote oracle, e.g. `http://10.0.0.5:9091`. */
  endpoint: string;
  supplyTier: SupplyTier;
  /** Bearer token for the remote (its API key, or the team key for private candidates). */
  apiKey?: string | null;
  /** Model name sent when the request names none. */
  model?: string | null;
  /**
   * A contributed node's registered key (hex): the node is asked for a signed attestation of
   * its answer (`x-shard-attest: 1`), and an answer without a valid one by this key fails the
   * attempt (`attestation_failed:<why>`). Default none (configured remotes are not asked).
   */
  attestationSigner?: string;
  /**
   * Refuse internal addresses (loopback, link-local, private ranges; ssrf.ts), at check and at
   * connect time: set for endpoints that untrusted contributors registered. Default false.
   */
  isSsrfGuarded?: boolean;
}

/** Another oracle over HTTP (OpenAI-compatible chat completions, stream false). */
export function createRemoteExecutor(options: RemoteExecutorOptions): StepExecutor {
  const url = `${options.endpoint.replace(/\/+$/, '')}/v1/chat/completions`;
  return {
    async run(req, signal) {
      const started = performance.now();
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-shard-request-id': req.request_id
      };
      if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
      if (options.supplyTier === 'private') headers['x-shard-route'] = 'private';
      headers[PRIVACY_HEADER] = encodePrivacyHeader(req.privacy);
      // Every oracle of this project honours this header; x-shard-privacy is read where wired.
      if (req.privacy.scout_floor === 'none') headers['x-shard-allow-scouts'] = 'false';
      if (options.attestationSigner) headers[ATTESTATION_REQUEST_HEADER] = '1';
      const refusal = options.isSsrfGuarded ? endpointRefusal(url) : null;
      if (refusal) throw new StepAttemptError(`endpoint_refused:${refusal}`);
      const body = JSON.stringify({
        model: req.model ?? options.model ?? undefined,
        messages: req.messages,
        stream: false,
        max_tokens: req.max_tokens,
        temperature: 0,
        // Oracles map a json_schema response format to a llama.cpp grammar (planning).
        ...(req.json_schema
          ? {
              response_format: {
                type: 'json_schema',
                json_schema: { name: `${req.step_kind}_output`, schema: req.json_schema }
              }
            }
          : {})
      });
      let res: Response;
      try {
        const init = { method: 'POST', headers, body, signal };
        res = options.isSsrfGuarded
          ? ((await undiciFetch(url, {
              ...init,
              dispatcher: guardedAgent()
            })) as unknown as Response)
          : await fetch(url, init);
      } catch (err) {
        if (signal.aborted) throw new StepAttemptError(abortReason(signal), { cause: err });
        const e = err as Error & { cause?: { code?: string; message?: string } };
        throw new StepAttemptError(
          `request_failed:${e.cause?.code ?? e.cause?.message ?? e.message}`,
          { cause: err }
        );
      }
      let parsed: unknown;
      try {
        const text = await res.text();
        if (!res.ok) throw new StepAttemptError(`upstream_status:${res.status}`);
        parsed = JSON.parse(text);
      } catch (err) {
        if (err instanceof StepAttemptError) throw err;
        if (signal.aborted) throw new StepAttemptError(abortReason(signal), { cause: err });
        throw new StepAttemptError(`invalid_json:${(err as Error).message}`.slice(0, 200), {
          cause: err
        });
      }
      const b = parsed as {
        model?: string;
        choices?: Array<{ message?: { content?: unknown } }>;
        usage?: { prompt_tokens?: number; completion_tokens?: number };
        shard?: { attestation?: unknown };
      };
      const content = b.choices?.[0]?.message?.content;
      if (typeof content !== 'string' || content.trim() === '')
        throw new StepAttemptError('missing_completion_text');
      const attestation = checkedAttestation(options, body, content, b.shard?.attestation);
      const header = (name: string) => res.headers.get(name) ?? undefined;
      const meshForwarded = header('x-shard-mesh-forwarded');
      return {
        text: content.trim(),
        // Usage as reported by the remote; the cost of the step is computed from these counts.
        input_tokens: Number.isInteger(b.usage?.prompt_tokens)
          ? b.usage!.prompt_tokens!
          : Math.ceil(JSON.stringify(req.messages).length / 4),
        output_tokens: Number.isInteger(b.usage?.completion_tokens)
          ? b.usage!.completion_tokens!
          : Math.ceil(content.length / 4),
        latency_ms: Math.round(performance.now() - started),
        model_metadata: {
          model_id: b.model ?? req.model ?? options.model ?? null,
          inference_mode: header('x-shard-inference-mode') ?? 'standard',
          served_by: header('x-shard-served-by') ?? options.endpoint,
          ...(meshForwarded ? { mesh_forwarded: meshForwarded.toLowerCase() === 'true' } : {}),
          ...(attestation ? { attestation } : {})
        }
      };
    }
  };
}

/**
 * The node's attestation of this answer, checked against the key it registered with, the body
 * sent and the content received; undefined when none was asked for. Throws StepAttemptError
 * `attestation_failed:<missing|malformed|wrong_signer|request_mismatch|output_mismatch|bad_signature>`.
 */
function checkedAttestation(
  options: RemoteExecutorOptions,
  sentBody: string,
  content: string,
  raw: unknown
): StepAttestation | undefined {
  if (!options.attestationSigner) return undefined;
  const why = checkStepAttestation(raw, {
    signer: options.attestationSigner,
    request: JSON.parse(sentBody),
    output: content
  });
  if (why) throw new StepAttemptError(`attestation_failed:${why}`);
  // Only the signed fields go into the receipt: the schema drops what the node added unsigned.
  return StepAttestationSchema.parse(raw);
}

/** The extractive engine (no model); always available, deterministic, free. */
export function createExtractiveExecutor(): StepExecutor {
  return {
    async run(req, signal) {
      const started = performance.now();
      if (signal.aborted) throw new StepAttemptError(abortReason(signal));
      const input = req.input;
      let text: string;
      let structured: unknown;
      let inputWords: number;
      switch (input.kind) {
        case 'planner': {
          const plan = extractivePlan(input.question, input.sources);
          structured = plan;
          text = JSON.stringify(plan);
          inputWords =
            countWords(input.question) +
            input.sources.reduce((s, x) => s + countWords(x.content), 0);
          break;
        }
        case 'summarize_source':
          text = extractiveSummary(input.question, input.focus, input.source);
          inputWords = countWords(input.question) + countWords(input.source.content);
          break;
        case 'synthesize_brief':
          text = extractiveSynthesis(input.question, input.summaries, input.sub_questions);
          inputWords =
            countWords(input.question) +
            input.summaries.reduce((s, x) => s + countWords(x.summary), 0);
          break;
      }
      return {
        text,
        structured,
        input_tokens: inputWords,
        output_tokens: countWords(text),
        latency_ms: Math.round(performance.now() - started),
        model_metadata: {
          model_id: 'extractive-bm25',
          inference_mode: 'extractive',
          served_by: 'local'
        }
      };
    }
  };
}
