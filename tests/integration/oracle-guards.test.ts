/**
 * Security controls and bad input against the oracle with the real engine: each failure gets a
 * specific OpenAI-shaped error, and the server keeps serving the next request.
 */
import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';

const KEY = 'sk-test-guards-1';
const MESSAGES = [{ role: 'user', content: 'Say something about the harbour.' }];

let engine: TargetEngine;
let open: OracleServer;
let keyed: OracleServer;
let limited: OracleServer;

beforeAll(async () => {
  const { targetPath } = await ensureTestModels();
  engine = await createTargetEngine({
    modelPath: targetPath,
    threads: 1,
    maxConcurrent: 1,
    contextSize: 256
  });
  const common = { engine, host: '127.0.0.1', port: 0 };
  open = createOracleServer({
    ...common,
    rateLimitPerMinute: 0,
    maxPromptChars: 200,
    maxBodyBytes: 4096
  });
  keyed = createOracleServer({ ...common, apiKeys: [KEY, 'sk-other'], rateLimitPerMinute: 0 });
  limited = createOracleServer({ ...common, rateLimitPerMinute: 3 });
  await Promise.all([open.start(), keyed.start(), limited.start()]);
});

afterAll(async () => {
  await Promise.all([open?.stop(), keyed?.stop(), limited?.stop()]);
  await engine?.dispose();
});

async function post(
  server: OracleServer,
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json' }
) {
  const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers, body });
  const text = await res.text();
  return { res, body: text ? JSON.parse(text) : undefined };
}

/** A normal request after a failure: proves the server is still serving. */
async function expectStillServing(server: OracleServer, headers: Record<string, string> = {}) {
  const { res, body } = await post(server, JSON.stringify({ messages: MESSAGES, max_tokens: 3 }), {
    'content-type': 'application/json',
    ...headers
  });
  expect(res.status).toBe(200);
  expect(body.usage.completion_tokens).toBe(3);
}

describe('request validation', () => {
  it.each([
    ['malformed JSON', '{"messages": [', 400, 'invalid_request', /not valid JSON/],
    ['an empty body', '', 400, 'invalid_request', /body is empty/],
    ['a JSON array', '[1,2]', 400, 'invalid_request', /body: /],
    ['missing messages', '{"max_tokens": 3}', 400, 'invalid_request', /messages: /],
    [
      'empty messages',
      '{"messages": []}',
      400,
      'invalid_request',
      /messages: must contain at least one message/
    ],
    [
      'content of the wrong type',
      '{"messages": [{"role": "user", "content": 5}]}',
      400,
      'invalid_request',
      /messages\.0\.content: /
    ],
    [
      'an unknown role',
      '{"messages": [{"role": "wizard", "content": "x"}]}',
      400,
      'invalid_request',
      /messages\.0\.role: /
    ],
    [
      'temperature above 2',
      '{"messages": [{"role": "user", "content": "x"}], "temperature": 3}',
      400,
      'invalid_request',
      /temperature: /
    ],
    [
      'top_p of 0',
      '{"messages": [{"role": "user", "content": "x"}], "top_p": 0}',
      400,
      'invalid_request',
      /top_p: /
    ],
    [
      'max_tokens as a string',
      '{"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}',
      400,
      'invalid_request',
      /max_tokens: /
    ],
    [
      'max_tokens of 0',
      '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
      400,
      'invalid_request',
      /max_tokens: /
    ],
    [
      'n of 2',
      '{"messages": [{"role": "user", "content": "x"}], "n": 2}',
      400,
      'unsupported_parameter',
      /n is not supported by this oracle: only n=1 is supported/
    ],
    [
      'stream as a string',
      '{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
      400,
      'invalid_request',
      /stream: /
    ],
    [
      'an unknown response_format type',
      '{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}',
      400,
      'invalid_request',
      /response_format\.type: /
    ],
    [
      'a bad shard.speculation',
      '{"messages": [{"role": "user", "content": "x"}], "shard": {"speculation": "max"}}',
      400,
      'invalid_request',
      /shard\.speculation: /
    ]
  ])('rejects %s with a specific 400', async (_what, body, status, code, message) => {
    const out = await post(open, body);
    expect(out.res.status).toBe(status);
    expect(out.body.error).toMatchObject({ type: 'invalid_request_error', code });
    expect(out.body.error.message).toMatch(message);
    await expectStillServing(open);
  });

  it('accepts the OpenAI fields clients commonly send (user, logit_bias, penalties, tools)', async () => {
    const { res } = await post(
      open,
      JSON.stringify({
        messages: MESSAGES,
        max_tokens: 2,
        user: 'u1',
        logit_bias: {},
        frequency_penalty: 0,
        tools: []
      })
    );
    expect(res.status).toBe(200);
  });

  it('rejects a non-JSON content type with 415', async () => {
    const out = await post(open, JSON.stringify({ messages: MESSAGES }), {
      'content-type': 'text/plain'
    });
    expect(out.res.status).toBe(415);
    expect(out.body.error).toMatchObject({
      code: 'unsupported_media_type',
      message: expect.stringMatching(/text\/plain/)
    });
    await expectStillServing(open);
  });

  it('rejects a bad x-shard-speculation header with 400 naming it', async () => {
    const out = await post(open, JSON.stringify({ messages: MESSAGES }), {
      'content-type': 'application/json',
      'x-shard-speculation': 'turbo'
    });
    expect(out.res.status).toBe(400);
    expect(out.body.error).toMatchObject({
      code: 'invalid_header',
      message: expect.stringMatching(/x-shard-speculation/)
    });
  });
});

describe('size limits', () => {
  it('rejects a prompt over SHARD_MAX_PROMPT_CHARS with 400 context_length_exceeded naming the limit', async () => {
    const out = await post(
      open,
      JSON.stringify({ messages: [{ role: 'user', content: 'a'.repeat(201) }] })
    );
    // OpenAI's status and code for an over-long prompt, so clients recognise it (not 413).
    expect(out.res.status).toBe(400);
    expect(out.body.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'context_length_exceeded'
    });
    expect(out.body.error.message).toMatch(/201 characters.*at most 200/);
    await expectStillServing(open);
  });

  it('rejects a body over SHARD_MAX_BODY_BYTES with 413 (declared length)', async () => {
    const big = JSON.stringify({ messages: MESSAGES, pad: 'x'.repeat(5000) });
    const out = await post(open, big);
    expect(out.res.status).toBe(413);
    expect(out.body.error).toMatchObject({
      code: 'payload_too_large',
      message: expect.stringMatching(/limit is 4096/)
    });
    await expectStillServing(open);
  });

  it('rejects an oversized chunked body (no content-length) with 413', async () => {
    const url = new URL(`${open.url}/v1/chat/completions`);
    const { status, text } = await new Promise<{ status: number; text: string }>(
      (resolve, reject) => {
        const req = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: { 'content-type': 'application/json' }
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          }
        );
        req.on('error', reject);
        req.write('{"messages": [], "pad": "');
        for (let i = 0; i < 10; i++) req.write('y'.repeat(1000));
        req.end('"}');
      }
    );
    expect(status).toBe(413);
    expect(JSON.parse(text).error.message).toMatch(/exceeds the limit of 4096 bytes/);
    await expectStillServing(open);
  });
});

describe('context window', () => {
  it.each([false, true])(
    'answers a prompt longer than the context with 400 context_length_exceeded (stream: %s)',
    async (stream) => {
      const content = Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ');
      const out = await post(
        keyed,
        JSON.stringify({ messages: [{ role: 'user', content }], stream }),
        {
          'content-type': 'application/json',
          authorization: `Bearer ${KEY}`
        }
      );
      expect(out.res.status).toBe(400);
      expect(out.res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(out.body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'context_length_exceeded',
        message: expect.stringMatching(/the context holds 256/)
      });
      await expectStillServing(keyed, { authorization: `Bearer ${KEY}` });
    }
  );
});

describe('API keys', () => {
  it('401s a missing or wrong key, and serves Bearer and X-API-Key keys', async () => {
    const missing = await post(keyed, JSON.stringify({ messages: MESSAGES }));
    expect(missing.res.status).toBe(401);
    expect(missing.body.error).toMatchObject({
      type: 'authentication_error',
      code: 'invalid_api_key'
    });
    const wrong = await post(keyed, JSON.stringify({ messages: MESSAGES }), {
      'content-type': 'application/json',
      authorization: 'Bearer sk-wrong'
    });
    expect(wrong.res.status).toBe(401);
    expect(wrong.body.error.message).toBe('invalid API key');
    await expectStillServing(keyed, { authorization: `Bearer ${KEY}` });
    await expectStillServing(keyed, { 'x-api-key': 'sk-other' });
    const viaClient = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const reply = await viaClient.chat.completions.create({
      model: engine.modelId,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 2
    });
    expect(reply.usage!.completion_tokens).toBe(2);
    const badClient = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-bad', maxRetries: 0 });
    await expect(badClient.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    expect((await fetch(`${keyed.url}/health`)).status).toBe(200);
  });
});

describe('rate limit', () => {
  it('429s the request after the bucket is empty, with Retry-After, per client', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await fetch(`${limited.url}/v1/models`);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBe(20);
    expect((await last!.json()).error).toMatchObject({
      type: 'rate_limit_error',
      code: 'rate_limit_exceeded',
      message: expect.stringMatching(/3 requests per minute/)
    });
    // /health is not limited.
    expect((await fetch(`${limited.url}/health`)).status).toBe(200);
    const client = new OpenAI({ baseURL: `${limited.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await expect(
      client.chat.completions.create({
        model: engine.modelId,
        messages: [{ role: 'user', content: 'x' }]
      })
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });
});
