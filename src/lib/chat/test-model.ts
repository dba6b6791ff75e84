/**
 * Tells whether an oracle serves one of Shard's generated test models (`npm run models`), whose
 * text is word salad by design, so the app can say so before anyone reads it as an answer.
 *
 * The API has no explicit flag yet. Until it does (asked for: `model_is_generated_test_model`
 * in `GET /health` and in each `/v1/models` entry's `shard` object), this reads what the API
 * exposes: every generated model shares one vocabulary (native-oracle/models/vocab.ts builds it
 * deterministically), so its tokenizer fingerprint identifies them, whatever the file is called.
 * A real model never has this vocabulary. The browser tests check the constant against the
 * generator, so a change of vocabulary cannot silently hide the notice.
 */
import type { Health } from '$lib/protocol/chat.js';

/** sha256 of the generated vocabulary (`buildVocabulary().fingerprint`, generator version 4). */
export const GENERATED_VOCABULARY_FINGERPRINT =
  'fe2005647989da9da51a0b70014b39fc396ecf89deb2b1dea3bbfc902c98739e';

/** True when the oracle's health says it serves a generated test model. */
export function isGeneratedTestModel(health: Health): boolean {
  // Prefer the explicit flag once an oracle sends it.
  const flag = (health as Record<string, unknown>).model_is_generated_test_model;
  if (typeof flag === 'boolean') return flag;
  return health.tokenizer_fingerprint === GENERATED_VOCABULARY_FINGERPRINT;
}
