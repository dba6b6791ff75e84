/**
 * Checks `generate()` options at the engine's edge (the HTTP layer validates its own bodies too,
 * but the engine never trusts a caller) and resolves their defaults.
 */
import { InvalidGenerateOptionsError } from './errors.js';
import type { ChatMessage, GenerateOptions } from './index.js';
import type { TokenChoiceSettings } from './sampling.js';
import { validateTools } from './tool-calls.js';

/** Output budget when the caller names none: enough for a chat answer, bounded for a queue. */
export const DEFAULT_MAX_TOKENS = 256;
/**
 * Drafts per round when the caller names none. Expected tokens per round are
 * (1 - a^(k+1)) / (1 - a) for per-token acceptance a (Leviathan et al. 2023, eq. 1): at a = 0.7,
 * k = 8 already reaches 96% of the 1 / (1 - a) ceiling, while each extra draft lengthens the
 * verify batch (compute-bound on CPU: FIELD-NOTES).
 */
export const DEFAULT_DRAFT_LENGTH = 8;
/** Drafts per round at most, whatever the caller asks: bounds one verify batch. */
export const MAX_DRAFT_LENGTH = 64;
/** Highest accepted temperature: a sanity bound far above any useful value (logits flatten). */
const MAX_TEMPERATURE = 100;

/** Penalty bounds: OpenAI's documented range for presence_penalty and frequency_penalty. */
const MAX_ABS_PENALTY = 2;
/** logit_bias bounds: OpenAI's documented range (-100 bans, +100 all but forces). */
const MAX_ABS_LOGIT_BIAS = 100;
/**
 * logit_bias entries at most: each costs work at every decoded position, and a vocabulary-sized
 * map is a denial-of-service body, not a bias.
 */
export const MAX_LOGIT_BIAS_ENTRIES = 1024;
/** top_logprobs at most: OpenAI's documented limit (0..20). */
export const MAX_TOP_LOGPROBS = 20;

const ROLES: readonly string[] = ['system', 'user', 'assistant', 'tool'];
const SPECULATION_MODES: readonly string[] = ['auto', 'off', 'on'];

/**
 * Called by `generate()` before a sequence is taken. Throws InvalidGenerateOptionsError naming
 * the first malformed field; changes nothing. `vocabularySize` bounds logitBias token ids
 * (default unbounded, for callers that check ids themselves).
 */
export function validateGenerateOptions(
  o: GenerateOptions,
  vocabularySize = Number.POSITIVE_INFINITY
): void {
  const fail = (m: string) => {
    throw new InvalidGenerateOptionsError(m);
  };
  if (!o || typeof o !== 'object') fail('options must be an object');
  if ((o.messages === undefined) === (o.prompt === undefined))
    fail('exactly one of messages or prompt is required');
  if (o.messages !== undefined) {
    if (!Array.isArray(o.messages) || o.messages.length === 0)
      fail('messages must be a non-empty array');
    for (const m of o.messages!) {
      if (!m || !ROLES.includes(m.role) || typeof m.content !== 'string') {
        fail('each message needs role system|user|assistant|tool and string content');
      }
      validateToolFields(m, fail);
    }
  }
  if (o.tools !== undefined) {
    if (o.messages === undefined) fail('tools need messages (a chat), not a raw prompt');
    validateTools(o.tools);
  }
  if (o.prompt !== undefined && typeof o.prompt !== 'string') fail('prompt must be a string');
  if (o.maxTokens !== undefined && (!Number.isInteger(o.maxTokens) || o.maxTokens < 1))
    fail('maxTokens must be a positive integer');
  if (o.draftLength !== undefined && (!Number.isInteger(o.draftLength) || o.draftLength < 1))
    fail('draftLength must be a positive integer');
  if (o.speculation !== undefined && !SPECULATION_MODES.includes(o.speculation))
    fail('speculation must be auto, off or on');
  if (o.stop !== undefined && (!Array.isArray(o.stop) || o.stop.some((s) => typeof s !== 'string')))
    fail('stop must be an array of strings');
  if (o.jsonSchema !== undefined && (typeof o.jsonSchema !== 'object' || o.jsonSchema === null))
    fail('jsonSchema must be an object');
  validateSamplingOptions(o, vocabularySize, fail);
}

/** A message's tool fields: calls on assistant messages only, a call id on tool messages. */
function validateToolFields(m: ChatMessage, fail: (message: string) => never): void {
  if (m.role === 'tool' && (typeof m.tool_call_id !== 'string' || m.tool_call_id === ''))
    fail('a tool message needs tool_call_id');
  if (m.role !== 'tool' && m.tool_call_id !== undefined)
    fail('only tool messages carry tool_call_id');
  if (m.tool_calls === undefined) return;
  if (m.role !== 'assistant') fail('only assistant messages carry tool_calls');
  if (!Array.isArray(m.tool_calls)) fail('tool_calls must be an array');
  for (const call of m.tool_calls) {
    const isValid =
      call &&
      typeof call.id === 'string' &&
      call.id !== '' &&
      call.type === 'function' &&
      typeof call.function?.name === 'string' &&
      typeof call.function.arguments === 'string';
    if (!isValid)
      fail("each tool call needs id, type 'function' and function { name, arguments: string }");
  }
}

/** The sampling fields of validateGenerateOptions(). */
function validateSamplingOptions(
  o: GenerateOptions,
  vocabularySize: number,
  fail: (message: string) => never
): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && o.temperature <= MAX_TEMPERATURE))
    fail(`temperature must be in 0..${MAX_TEMPERATURE}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) fail('topP must be in (0, 1]');
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) fail('seed must be an integer');
  if (o.topK !== undefined && !(Number.isSafeInteger(o.topK) && o.topK >= 0))
    fail('topK must be a non-negative integer');
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) fail('minP must be between 0 and 1');
  for (const field of ['presencePenalty', 'frequencyPenalty'] as const) {
    const v = o[field];
    if (v !== undefined && !(typeof v === 'number' && Math.abs(v) <= MAX_ABS_PENALTY))
      fail(`${field} must be between -${MAX_ABS_PENALTY} and ${MAX_ABS_PENALTY}`);
  }
  if (o.logitBias !== undefined) validateLogitBias(o.logitBias, vocabularySize, fail);
  if (o.logprobs !== undefined && typeof o.logprobs !== 'boolean')
    fail('logprobs must be a boolean');
  if (o.topLogprobs !== undefined) {
    if (!(
      Number.isInteger(o.topLogprobs) &&
      o.topLogprobs >= 0 &&
      o.topLogprobs <= MAX_TOP_LOGPROBS
    ))
      fail(`topLogprobs must be an integer between 0 and ${MAX_TOP_LOGPROBS}`);
    if (o.topLogprobs > 0 && o.logprobs !== true) fail('topLogprobs requires logprobs: true');
  }
}

function validateLogitBias(
  bias: unknown,
  vocabularySize: number,
  fail: (message: string) => never
): void {
  if (!bias || typeof bias !== 'object' || Array.isArray(bias) || bias instanceof Map)
    fail('logitBias must be an object mapping token ids to biases');
  const entries = Object.entries(bias as Record<string, unknown>);
  if (entries.length > MAX_LOGIT_BIAS_ENTRIES)
    fail(`logitBias has ${entries.length} entries; at most ${MAX_LOGIT_BIAS_ENTRIES}`);
  for (const [key, value] of entries) {
    if (!/^(0|[1-9][0-9]*)$/.test(key))
      fail(`logitBias key ${JSON.stringify(key)} is not a token id`);
    if (Number(key) >= vocabularySize)
      fail(`logitBias token ${key} is outside the vocabulary (${vocabularySize} tokens)`);
    if (!(typeof value === 'number' && Math.abs(value) <= MAX_ABS_LOGIT_BIAS))
      fail(
        `logitBias for token ${key} must be between -${MAX_ABS_LOGIT_BIAS} and ${MAX_ABS_LOGIT_BIAS}`
      );
  }
}

/** The token-choice settings of validated options, every default resolved. */
export function resolveTokenChoice(o: GenerateOptions, seed: number): TokenChoiceSettings {
  return {
    temperature: o.temperature ?? 0,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    minP: o.minP ?? 0,
    presencePenalty: o.presencePenalty ?? 0,
    frequencyPenalty: o.frequencyPenalty ?? 0,
    logitBias: new Map(
      Object.entries(o.logitBias ?? {})
        .filter(([, b]) => b !== 0)
        .map(([t, b]) => [Number(t), b])
    ),
    seed
  };
}
