/**
 * Checks `generate()` options at the engine's edge (the HTTP layer validates its own bodies too,
 * but the engine never trusts a caller) and resolves their defaults.
 */
import { InvalidGenerateOptionsError } from './errors.js';
import type { GenerateOptions } from './index.js';

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

const ROLES: readonly string[] = ['system', 'user', 'assistant'];
const SPECULATION_MODES: readonly string[] = ['auto', 'off', 'on'];

/**
 * Called by `generate()` before a sequence is taken. Throws InvalidGenerateOptionsError naming
 * the first malformed field; changes nothing.
 */
export function validateGenerateOptions(o: GenerateOptions): void {
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
        fail('each message needs role system|user|assistant and string content');
      }
    }
  }
  if (o.prompt !== undefined && typeof o.prompt !== 'string') fail('prompt must be a string');
  if (o.maxTokens !== undefined && (!Number.isInteger(o.maxTokens) || o.maxTokens < 1))
    fail('maxTokens must be a positive integer');
  if (o.temperature !== undefined && !(o.temperature >= 0 && o.temperature <= MAX_TEMPERATURE))
    fail(`temperature must be in 0..${MAX_TEMPERATURE}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) fail('topP must be in (0, 1]');
  if (o.seed !== undefined && !Number.isInteger(o.seed)) fail('seed must be an integer');
  if (o.draftLength !== undefined && (!Number.isInteger(o.draftLength) || o.draftLength < 1))
    fail('draftLength must be a positive integer');
  if (o.speculation !== undefined && !SPECULATION_MODES.includes(o.speculation))
    fail('speculation must be auto, off or on');
  if (o.stop !== undefined && (!Array.isArray(o.stop) || o.stop.some((s) => typeof s !== 'string')))
    fail('stop must be an array of strings');
  if (o.jsonSchema !== undefined && (typeof o.jsonSchema !== 'object' || o.jsonSchema === null))
    fail('jsonSchema must be an object');
}
