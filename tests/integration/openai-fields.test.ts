/**
 * The OpenAI surface never ignores a field (issue 13), with the official `openai` client against
 * an oracle on the generated models: unknown fields and unsupported OpenAI fields are 400s that
 * name them, `model` is checked, sampling fields (penalties, logit_bias, logprobs, seed) change
 * or report what they say, limits answer in OpenAI's words, legacy completions and embeddings
 * work, streams carry the headers known at start. Every live response is then checked against
 * the checked-in OpenAPI document.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkAgainstDocument,
  openApiDocument,
  startOracleHarness,
  type OracleHarness
} from './openai-harness.js';

const MESSAGES = [
  { role: 'system' as const, content: 'You are a terse assistant.' },
  { role: 'user' as const, content: 'Tell me about the river and the old bridge.' }
];
const OFF = { headers: { 'x-shard-speculation': 'off' } };
const CONTEXT_TOKENS = 512;

let h: OracleHarness;

beforeAll(async () => {
  h = await startOracleHarness({ maxBodyBytes: 64 * 1024 }, { contextSize: CONTEXT_TOKENS });
});

afterAll(async () => {
  await h?.stop();
});

async function postRaw(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await h.fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body)
  });
  const text = await res.text();
  return { res, json: text ? JSON.parse(text) : undefined };
}

describe('every field is honoured or refused by name', () => {
  it.each([
    [{ temprature: 0.5 }, 'temprature'],
    [{ messages: [{ role: 'user', content: 'x', mood: 'happy' }] }, 'messages.0.mood'],
    [{ stream_options: { include_usage: true, extra: 1 } }, 'stream_options.extra'],
    [{ shard: { speculation: 'on', turbo: true } }, 'shard.turbo']
  ])(
    'refuses the unknown field in %j with 400 unknown_parameter naming it',
    async (extra, name) => {
      const { res, json } = await postRaw('/v1/chat/completions', {
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 2,
        ...extra
      });
      expect(res.status).toBe(400);
      expect(json.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'unknown_parameter',
        param: name
      });
      expect(json.error.message).toContain(`\`${name}\``);
    }
  );

  it.each([
    [{ n: 2 }, 'n', /only n=1/],
    [{ audio: { voice: 'alloy', format: 'mp3' } }, 'audio', /text-only/],
    [{ modalities: ['text', 'audio'] }, 'modalities', /text-only/],
    [{ prediction: { type: 'content', content: 'x' } }, 'prediction', /predicted outputs/],
    [{ web_search_options: {} }, 'web_search_options', /no web access/],
    [{ reasoning_effort: 'high' }, 'reasoning_effort', /no reasoning/]
  ])('refuses %j with 400 unsupported_parameter and the reason', async (extra, param, why) => {
    const call = h.client.chat.completions.create({
      model: h.engine.modelId,
      messages: MESSAGES,
      max_tokens: 2,
      ...(extra as object)
    });
    const err = await call.then(
      () => undefined,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.code).toBe('unsupported_parameter');
    expect(e.param).toBe(param);
    expect(e.message).toMatch(why);
  });

  it('accepts the documented accepted-and-ignored fields and honours the rest', async () => {
    const reply = await h.client.chat.completions.create({
      model: 'default',
      messages: MESSAGES,
      max_tokens: 3,
      user: 'u-1',
      metadata: { team: 'docs' },
      store: false,
      service_tier: 'auto',
      parallel_tool_calls: false,
      safety_identifier: 'sid',
      prompt_cache_key: 'k',
      modalities: ['text'],
      n: 1,
      stream_options: null
    });
    expect(reply.usage!.completion_tokens).toBe(3);
    expect(reply.model).toBe(h.engine.modelId);
  });
});

describe('model', () => {
  it('answers an unknown model with 404 model_not_found in OpenAI’s words', async () => {
    const err = await h.client.chat.completions
      .create({ model: 'gpt-4o-does-not-exist', messages: MESSAGES, max_tokens: 2 })
      .then(
        () => undefined,
        (e: unknown) => e
      );
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const e = err as InstanceType<typeof OpenAI.NotFoundError>;
    expect(e.code).toBe('model_not_found');
    expect(e.param).toBe('model');
    expect(e.message).toContain(
      'The model `gpt-4o-does-not-exist` does not exist or you do not have access to it.'
    );
    const retrieved = await h.client.models.retrieve('default');
    expect(retrieved.id).toBe(h.engine.modelId);
    await expect(h.client.models.retrieve('gpt-4o')).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found'
    });
  });
});

describe('sampling fields', () => {
  it('reports logprobs in OpenAI’s shape, consistent with the text and the greedy choice', async () => {
    const request = {
      model: h.engine.modelId,
      messages: MESSAGES,
      max_tokens: 12,
      logprobs: true,
      top_logprobs: 3
    };
    const reply = await h.client.chat.completions.create(request, OFF);
    const content = reply.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(12);
    expect(content.map((c) => c.token).join('')).toBe(reply.choices[0]!.message.content);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')]);
      expect(entry.top_logprobs).toHaveLength(3);
      const tops = entry.top_logprobs.map((t) => t.logprob);
      expect([...tops].sort((a, b) => b - a)).toEqual(tops);
      // Greedy: the chosen token is the most likely one.
      expect(entry.top_logprobs[0]!.token).toBe(entry.token);
      expect(entry.top_logprobs[0]!.logprob).toBeCloseTo(entry.logprob, 6);
    }
    const stream = await h.client.chat.completions.create({ ...request, stream: true }, OFF);
    const streamed: OpenAI.Chat.Completions.ChatCompletionTokenLogprob[] = [];
    for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    expect(streamed.map((c) => c.token)).toEqual(content.map((c) => c.token));
    expect(streamed.map((c) => c.logprob)).toEqual(content.map((c) => c.logprob));
  });

  it('gives the same text for a seed at temperature 0.8 with drafts off and on', async () => {
    const request = {
      model: h.engine.modelId,
      messages: MESSAGES,
      max_tokens: 32,
      temperature: 0.8,
      seed: 1234
    };
    const off = await h.client.chat.completions.create(
      {
        ...request,
        shard: { speculation: 'off' }
      } as OpenAI.ChatCompletionCreateParamsNonStreaming,
      {}
    );
    const on = await h.client.chat.completions
      .create({
        ...request,
        shard: { speculation: 'on' }
      } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    const stats = (on.data as unknown as { shard: { mode: string; drafted: number } }).shard;
    expect(stats.mode).toBe('speculative');
    expect(stats.drafted).toBeGreaterThan(0);
    expect(on.response.headers.get('x-shard-draft-source')).toBe('draft-model');
    expect(on.data.choices[0]!.message.content).toBe(off.choices[0]!.message.content);
    const other = await h.client.chat.completions.create({ ...request, seed: 99 }, OFF);
    expect(other.choices[0]!.message.content).not.toBe(off.choices[0]!.message.content);
  });

  it('presence and frequency penalties subtract from the logit of a token already in the output', async () => {
    let first: number | undefined;
    for await (const event of h.engine.generate({ messages: MESSAGES, maxTokens: 1 })) {
      if (event.type === 'tokens') first ??= event.tokens[0];
    }
    // A large bias makes the greedy first token come again at the second position, where the
    // penalties then act on it (once in the output so far: -2 for both).
    const base = {
      model: h.engine.modelId,
      messages: MESSAGES,
      max_tokens: 2,
      temperature: 0,
      logprobs: true,
      top_logprobs: 5,
      logit_bias: { [String(first)]: 30 }
    };
    // Log-probability differences are logit differences (softmax shifts all alike).
    const gapAt1 = (r: OpenAI.ChatCompletion, other: string) => {
      const [at0, at1] = r.choices[0]!.logprobs!.content!;
      const lp = (token: string) => at1!.top_logprobs.find((t) => t.token === token)!.logprob;
      return lp(at0!.token) - lp(other);
    };
    const plain = await h.client.chat.completions.create(base, OFF);
    const [at0, at1] = plain.choices[0]!.logprobs!.content!;
    expect(at1!.token).toBe(at0!.token);
    const other = at1!.top_logprobs.find((t) => t.token !== at0!.token)!.token;
    for (const field of ['presence_penalty', 'frequency_penalty'] as const) {
      const penalised = await h.client.chat.completions.create({ ...base, [field]: 2 }, OFF);
      // Position 0 has no output before it: unchanged.
      expect(penalised.choices[0]!.logprobs!.content![0]!.logprob).toBeCloseTo(at0!.logprob, 6);
      expect(gapAt1(penalised, other), field).toBeCloseTo(gapAt1(plain, other) - 2, 3);
    }
  });

  it('logit_bias -100 on the greedy first token changes it; an id outside the vocabulary is a 400', async () => {
    const base = { model: h.engine.modelId, messages: MESSAGES, max_tokens: 4, temperature: 0 };
    let firstToken: number | undefined;
    for await (const event of h.engine.generate({ messages: MESSAGES, maxTokens: 1 })) {
      if (event.type === 'tokens') firstToken ??= event.tokens[0];
    }
    const plain = await h.client.chat.completions.create({ ...base, logprobs: true }, OFF);
    const banned = await h.client.chat.completions.create(
      { ...base, logprobs: true, logit_bias: { [String(firstToken)]: -100 } },
      OFF
    );
    const firstOf = (r: OpenAI.ChatCompletion) => r.choices[0]!.logprobs!.content![0]!.token;
    expect(firstOf(plain).trim()).toBe(h.engine.detokenize([firstToken!]).trim());
    expect(firstOf(banned)).not.toBe(firstOf(plain));
    const outside = await postRaw('/v1/chat/completions', {
      ...base,
      logit_bias: { [String(h.engine.vocabularySize)]: 5 }
    });
    expect(outside.res.status).toBe(400);
    expect(outside.json.error).toMatchObject({ param: 'logit_bias' });
    expect(outside.json.error.message).toMatch(/outside the vocabulary/);
  });

  it('passes top_k and min_p: top_k 1 is greedy whatever the temperature', async () => {
    const base = { model: h.engine.modelId, messages: MESSAGES, max_tokens: 16 };
    const greedy = await h.client.chat.completions.create({ ...base, temperature: 0 }, OFF);
    const topK1 = await h.client.chat.completions.create(
      {
        ...base,
        temperature: 1.5,
        seed: 5,
        top_k: 1
      } as OpenAI.ChatCompletionCreateParamsNonStreaming,
      OFF
    );
    expect(topK1.choices[0]!.message.content).toBe(greedy.choices[0]!.message.content);
    const minP1 = await h.client.chat.completions.create(
      {
        ...base,
        temperature: 1.5,
        seed: 5,
        min_p: 1
      } as OpenAI.ChatCompletionCreateParamsNonStreaming,
      OFF
    );
    expect(minP1.choices[0]!.message.content).toBe(greedy.choices[0]!.message.content);
  });
});

describe('limits in OpenAI’s words', () => {
  it('answers a prompt over the context with 400 context_length_exceeded and "maximum context length"', async () => {
    const content = Array.from({ length: 1200 }, (_, i) => `w${i}`).join(' ');
    const err = await h.client.chat.completions
      .create({ model: h.engine.modelId, messages: [{ role: 'user', content }], max_tokens: 2 })
      .then(
        () => undefined,
        (e: unknown) => e
      );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.code).toBe('context_length_exceeded');
    expect(e.message).toMatch(
      new RegExp(
        `This model's maximum context length is ${CONTEXT_TOKENS} tokens\\. However, your messages resulted in \\d+ tokens`
      )
    );
  });

  it('answers a prompt over SHARD_MAX_PROMPT_CHARS with 400 (not 413), and a body over the byte limit with 413', async () => {
    const long = await postRaw('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'a'.repeat(16_001) }]
    });
    expect(long.res.status).toBe(400);
    expect(long.json.error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    expect(long.json.error.message).toMatch(/16001 characters.*at most 16000/);
    const huge = await postRaw('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'a'.repeat(70_000) }]
    });
    expect(huge.res.status).toBe(413);
    expect(huge.json.error.code).toBe('payload_too_large');
  });
});

describe('legacy completions and embeddings', () => {
  it('completes text with logprobs, echo and streaming through the openai client', async () => {
    const prompt = 'The river and the old bridge';
    const whole = await h.client.completions.create(
      { model: h.engine.modelId, prompt, max_tokens: 6, temperature: 0, logprobs: 2 },
      OFF
    );
    expect(whole.object).toBe('text_completion');
    const choice = whole.choices[0]!;
    expect(choice.finish_reason).toBe('length');
    expect(whole.usage!.completion_tokens).toBe(6);
    expect(choice.logprobs!.tokens!.join('')).toBe(choice.text);
    expect(choice.logprobs!.token_logprobs).toHaveLength(6);
    expect(Object.keys(choice.logprobs!.top_logprobs![0]!).length).toBeLessThanOrEqual(2);
    expect(choice.logprobs!.text_offset![0]).toBe(0);
    const echoed = await h.client.completions.create(
      { model: 'default', prompt, max_tokens: 6, temperature: 0, echo: true },
      OFF
    );
    expect(echoed.choices[0]!.text).toBe(prompt + choice.text);
    const stream = await h.client.completions.create(
      { model: h.engine.modelId, prompt, max_tokens: 6, temperature: 0, stream: true },
      OFF
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(choice.text);
    const tokenIds = await postRaw('/v1/completions', { prompt: [1, 2, 3], max_tokens: 2 });
    expect(tokenIds.res.status).toBe(400);
    expect(tokenIds.json.error).toMatchObject({ code: 'unsupported_parameter', param: 'prompt' });
    const suffix = await postRaw('/v1/completions', { prompt, suffix: 'x' });
    expect(suffix.json.error).toMatchObject({ code: 'unsupported_parameter', param: 'suffix' });
  });

  it('embeds texts through the openai client (base64) and as floats', async () => {
    const input = ['the river', 'the old bridge'];
    const viaClient = await h.client.embeddings.create({ model: h.engine.modelId, input });
    expect(viaClient.data).toHaveLength(2);
    expect(viaClient.data[0]!.embedding).toHaveLength(h.engine.embeddingLength);
    expect(viaClient.usage.prompt_tokens).toBeGreaterThan(0);
    const floats = await postRaw('/v1/embeddings', { input, encoding_format: 'float' });
    expect(floats.res.status).toBe(200);
    const vector = floats.json.data[1].embedding as number[];
    expect(vector).toHaveLength(h.engine.embeddingLength);
    viaClient.data[1]!.embedding.forEach((x, i) => expect(x).toBeCloseTo(vector[i]!, 5));
    expect(viaClient.data[0]!.embedding).not.toEqual(viaClient.data[1]!.embedding);
    const tokenIds = await postRaw('/v1/embeddings', { input: [[1, 2, 3]] });
    expect(tokenIds.json.error).toMatchObject({ code: 'unsupported_parameter', param: 'input' });
    const dims = await postRaw('/v1/embeddings', { input: 'x', dimensions: 3 });
    expect(dims.json.error).toMatchObject({ code: 'unsupported_parameter', param: 'dimensions' });
  });
});

describe('streams', () => {
  it('send the headers known at start, and the final stats in the last chunk', async () => {
    const { data: stream, response } = await h.client.chat.completions
      .create(
        { model: h.engine.modelId, messages: MESSAGES, max_tokens: 8, stream: true },
        { headers: { 'x-shard-speculation': 'on' } }
      )
      .withResponse();
    expect(response.headers.get('x-shard-speculation')).toBe('on');
    expect(response.headers.get('x-shard-model')).toBe(h.engine.modelId);
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(response.headers.get('x-request-id')).toBe(chunks[0]!.id);
    const last = chunks.at(-1) as unknown as { shard: { mode: string; drafted: number } };
    expect(last.shard.mode).toBe('speculative');
    expect(last.shard.drafted).toBeGreaterThan(0);
  });
});

describe('the OpenAPI document', () => {
  it('is served at /openapi.json and describes every live response of this file', async () => {
    const served = await (await h.fetch(`${h.url}/openapi.json`)).json();
    const doc = openApiDocument();
    expect(served).toEqual(doc);
    const { problems, checked } = await checkAgainstDocument(doc, h.recorded);
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });
});
