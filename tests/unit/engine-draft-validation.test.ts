/**
 * Untrusted drafts and options at the engine's edge (native-oracle/engine/draft-validation.ts and
 * generate-options.ts): a failing or invalid draft source costs one round its drafts, never the
 * generation; malformed options are refused with a message naming the field.
 */
import { describe, expect, it } from 'vitest';
import {
  assertTokensInVocabulary,
  MAX_ALTERNATIVES,
  requestDraft
} from '../../native-oracle/engine/draft-validation.js';
import {
  InvalidGenerateOptionsError,
  InvalidTokenError
} from '../../native-oracle/engine/errors.js';
import { validateGenerateOptions } from '../../native-oracle/engine/generate-options.js';
import type { DraftProposal, GenerateOptions } from '../../native-oracle/engine/index.js';

const VOCAB = 10;

function ask(
  answer: () => Promise<DraftProposal | null>,
  k = 3,
  signal = new AbortController().signal
) {
  return requestDraft({
    source: { name: 'test', draft: answer },
    context: [1, 2],
    k,
    signal,
    vocabularySize: VOCAB
  });
}

describe('draft validation', () => {
  it('table: what a source returns and what the round verifies', async () => {
    const cases: Array<[string, unknown, DraftProposal | null]> = [
      ['valid, trimmed to k', { tokens: [1, 2, 3, 4] }, { tokens: [1, 2, 3], probs: undefined }],
      ['null', null, null],
      ['no token array', { tokens: 'abc' }, null],
      ['token outside the vocabulary', { tokens: [1, VOCAB] }, null],
      ['negative token', { tokens: [-1] }, null],
      ['fractional token', { tokens: [1.5] }, null],
      [
        'probs kept when every position has a valid distribution',
        { tokens: [1, 2], probs: [[[1, 0.5]], [[2, 1]]] },
        { tokens: [1, 2], probs: [[[1, 0.5]], [[2, 1]]] }
      ],
      [
        'probs dropped when one is out of range',
        { tokens: [1, 2], probs: [[[1, 0.5]], [[2, 1.5]]] },
        { tokens: [1, 2], probs: undefined }
      ],
      [
        'probs dropped when too few',
        { tokens: [1, 2], probs: [[[1, 0.5]]] },
        { tokens: [1, 2], probs: undefined }
      ]
    ];
    for (const [label, answer, expected] of cases) {
      expect(await ask(async () => answer as DraftProposal), label).toEqual(expected);
    }
  });

  it('table: alternatives are validated like the main draft, each on its own', async () => {
    const cases: Array<[string, unknown, DraftProposal | null]> = [
      [
        'kept and cut to k',
        { tokens: [1, 2], alternatives: [[3, 4, 5, 6]] },
        { tokens: [1, 2], probs: undefined, alternatives: [[3, 4, 5]] }
      ],
      [
        'one outside the vocabulary dropped alone',
        { tokens: [1, 2], alternatives: [[3, VOCAB], [4]] },
        { tokens: [1, 2], probs: undefined, alternatives: [[4]] }
      ],
      [
        'a prefix of the main draft (or equal to it) dropped',
        {
          tokens: [1, 2, 3],
          alternatives: [
            [1, 2],
            [1, 2, 3],
            [1, 5]
          ]
        },
        { tokens: [1, 2, 3], probs: undefined, alternatives: [[1, 5]] }
      ],
      [
        'duplicates and empty ones dropped',
        { tokens: [1], alternatives: [[2, 3], [], [2, 3], [4]] },
        { tokens: [1], probs: undefined, alternatives: [[2, 3], [4]] }
      ],
      [
        'at most MAX_ALTERNATIVES',
        { tokens: [1], alternatives: [[2], [3], [4], [5]] },
        {
          tokens: [1],
          probs: undefined,
          alternatives: [[2], [3], [4], [5]].slice(0, MAX_ALTERNATIVES)
        }
      ],
      [
        'an empty main draft takes the first alternative',
        { tokens: [], alternatives: [[2, 3], [4]] },
        { tokens: [2, 3], alternatives: [[4]] }
      ],
      [
        'not an array: ignored',
        { tokens: [1], alternatives: 'x' },
        { tokens: [1], probs: undefined }
      ],
      [
        'entries that are not arrays skipped',
        { tokens: [1], alternatives: [7, [2]] },
        { tokens: [1], probs: undefined, alternatives: [[2]] }
      ]
    ];
    expect(MAX_ALTERNATIVES).toBe(2);
    for (const [label, answer, expected] of cases) {
      expect(await ask(async () => answer as DraftProposal), label).toEqual(expected);
    }
  });

  it('a throwing source means no draft this round', async () => {
    expect(await ask(() => Promise.reject(new Error('scout vanished')))).toBeNull();
  });

  it('assertTokensInVocabulary names where the bad token came from', () => {
    expect(() => assertTokensInVocabulary([0, 9], VOCAB, 'detokenize')).not.toThrow();
    expect(() => assertTokensInVocabulary([10], VOCAB, 'detokenize')).toThrow(InvalidTokenError);
    expect(() => assertTokensInVocabulary([10], VOCAB, 'detokenize')).toThrow(
      /detokenize: token 10 is outside the vocabulary \(0\.\.9\)/
    );
  });
});

describe('generate options', () => {
  it('table: malformed options are refused naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /exactly one of messages or prompt/],
      [{ prompt: 'x', messages: [] }, /exactly one of messages or prompt/],
      [{ messages: [] }, /messages must be a non-empty array/],
      [{ messages: [{ role: 'robot', content: 'x' }] }, /role system\|user\|assistant/],
      [{ prompt: 3 }, /prompt must be a string/],
      [{ prompt: 'x', maxTokens: 0 }, /maxTokens/],
      [{ prompt: 'x', temperature: -1 }, /temperature/],
      [{ prompt: 'x', temperature: 101 }, /temperature/],
      [{ prompt: 'x', topP: 0 }, /topP/],
      [{ prompt: 'x', seed: 1.5 }, /seed/],
      [{ prompt: 'x', draftLength: 0 }, /draftLength/],
      [{ prompt: 'x', speculation: 'maybe' }, /speculation/],
      [{ prompt: 'x', stop: [1] }, /stop/],
      [{ prompt: 'x', jsonSchema: null }, /jsonSchema/]
    ];
    for (const [options, message] of cases) {
      expect(() => validateGenerateOptions(options as GenerateOptions)).toThrow(
        InvalidGenerateOptionsError
      );
      expect(() => validateGenerateOptions(options as GenerateOptions)).toThrow(message);
    }
    expect(() =>
      validateGenerateOptions({
        messages: [{ role: 'user', content: 'hi' }],
        maxTokens: 4,
        temperature: 0.7,
        topP: 0.9,
        seed: 1,
        stop: ['\n'],
        draftLength: 4,
        speculation: 'auto',
        jsonSchema: { type: 'object' }
      })
    ).not.toThrow();
  });
});
