/**
 * Tool calling in OpenAI's shapes with the official `openai` client against an oracle on the
 * generated models: a required or named choice always yields one valid call naming an allowed
 * tool (grammar-constrained), a `role: "tool"` turn is accepted and answered, streams carry
 * tool-call deltas, `auto` yields a call or text, and mistakes are 400s naming the field. Every
 * live response is checked against the OpenAPI document.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkAgainstDocument,
  openApiDocument,
  startOracleHarness,
  type OracleHarness
} from './openai-harness.js';

const WEATHER: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { enum: ['Paris', 'Oslo', 'Lima'] }, celsius: { type: 'boolean' } },
      required: ['city', 'celsius']
    }
  }
};
const TIME: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_time',
    parameters: {
      type: 'object',
      properties: { zone: { enum: ['UTC', 'CET'] } },
      required: ['zone']
    }
  }
};
const ASK: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
  { role: 'user', content: 'What is the weather in Paris?' }
];

let h: OracleHarness;

beforeAll(async () => {
  h = await startOracleHarness();
});

afterAll(async () => {
  await h?.stop();
});

async function postRaw(body: unknown) {
  const res = await h.fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body)
  });
  return { res, json: await res.json() };
}

describe('tool calls', () => {
  it('required: one valid call naming the tool; then a tool turn is accepted and answered', async () => {
    const reply = await h.client.chat.completions.create({
      model: h.engine.modelId,
      messages: ASK,
      tools: [WEATHER],
      tool_choice: 'required',
      max_tokens: 80
    });
    const choice = reply.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const calls = choice.message.tool_calls!;
    expect(calls).toHaveLength(1);
    const call = calls[0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments);
    expect(['Paris', 'Oslo', 'Lima']).toContain(args.city);
    expect(typeof args.celsius).toBe('boolean');

    const followUp = await h.client.chat.completions.create({
      model: h.engine.modelId,
      messages: [
        ...ASK,
        { role: 'assistant', content: null, tool_calls: calls },
        { role: 'tool', tool_call_id: call.id, content: '{"temperature": 12}' }
      ],
      tools: [WEATHER],
      tool_choice: 'none',
      max_tokens: 8
    });
    expect(followUp.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(followUp.choices[0]!.message.tool_calls).toBeUndefined();
    // The tool turn reached the prompt: it costs more tokens than the question alone.
    expect(followUp.usage!.prompt_tokens).toBeGreaterThan(reply.usage!.prompt_tokens);
  });

  it('a named choice calls that tool, also when streamed (tool-call deltas)', async () => {
    const request = {
      model: h.engine.modelId,
      messages: ASK,
      tools: [WEATHER, TIME],
      tool_choice: { type: 'function' as const, function: { name: 'get_time' } },
      max_tokens: 60
    };
    const whole = await h.client.chat.completions.create(request);
    const call = whole.choices[0]!.message
      .tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe('get_time');
    expect(['UTC', 'CET']).toContain(JSON.parse(call.function.arguments).zone);
    const stream = await h.client.chat.completions.create({ ...request, stream: true });
    let name = '';
    let args = '';
    let id = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
        expect(d.index).toBe(0);
        id += d.id ?? '';
        name += d.function?.name ?? '';
        args += d.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(id).toMatch(/^call_/);
    expect(name).toBe('get_time');
    expect(['UTC', 'CET']).toContain(JSON.parse(args).zone);
    expect(finish).toBe('tool_calls');
  });

  it('auto: the model answers with a valid call or with text', async () => {
    const reply = await h.client.chat.completions.create({
      model: h.engine.modelId,
      messages: ASK,
      tools: [WEATHER, TIME],
      max_tokens: 80
    });
    const choice = reply.choices[0]!;
    if (choice.finish_reason === 'tool_calls') {
      const call = choice.message
        .tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
      expect(['get_weather', 'get_time']).toContain(call.function.name);
      expect(() => JSON.parse(call.function.arguments)).not.toThrow();
    } else {
      expect(typeof choice.message.content).toBe('string');
      expect(choice.message.tool_calls).toBeUndefined();
    }
  });

  it.each([
    [{ tool_choice: 'required' }, 'tool_choice', /no tools were sent/],
    [
      { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } },
      'tool_choice',
      /not in tools/
    ],
    [{ tools: [WEATHER, WEATHER] }, 'tools.1.function.name', /used twice/],
    [
      {
        tools: [WEATHER],
        tool_choice: 'required',
        response_format: { type: 'json_object' }
      },
      'response_format',
      /both constrain the output/
    ],
    [{ functions: [WEATHER.function] }, 'functions', /legacy functions API/]
  ])('refuses %j with a 400 naming %s', async (extra, param, why) => {
    const { res, json } = await postRaw({ messages: ASK, max_tokens: 4, ...extra });
    expect(res.status).toBe(400);
    expect(json.error.param).toBe(param);
    expect(json.error.message).toMatch(why);
  });

  it('refuses a tool turn that answers no call, naming it', async () => {
    const { res, json } = await postRaw({
      messages: [...ASK, { role: 'tool', tool_call_id: 'call_x', content: '1' }],
      max_tokens: 4
    });
    expect(res.status).toBe(400);
    expect(json.error.message).toMatch(/answers no earlier tool call/);
  });
});

describe('the OpenAPI document', () => {
  it('describes every live response of this file', async () => {
    const { problems, checked } = await checkAgainstDocument(openApiDocument(), h.recorded);
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(8);
  });
});
