/**
 * Tool calls on the engine side (native-oracle/engine/tool-calls.ts): the schema that forces a
 * call (one branch per allowed tool, each name with its own arguments), reading the generated
 * call back, validation of tool definitions and tool messages, and the rendering of assistant
 * tool calls and tool results through node-llama-cpp's ChatML wrapper (the generated models'
 * template), no model loaded.
 */
import { ChatMLChatWrapper } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { validateGenerateOptions } from '../../native-oracle/engine/generate-options.js';
import type { ChatMessage, ToolDefinition } from '../../native-oracle/engine/index.js';
import {
  chatHistoryWithToolCalls,
  parseToolCallOutput,
  toAvailableFunctions,
  toolCallSchema,
  validateTools
} from '../../native-oracle/engine/tool-calls.js';

const weather: ToolDefinition = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }
  }
};
const ping: ToolDefinition = { type: 'function', function: { name: 'ping' } };

const chat: ChatMessage[] = [
  { role: 'user', content: 'weather in Paris?' },
  {
    role: 'assistant',
    content: '',
    tool_calls: [
      {
        id: 'c1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' }
      }
    ]
  },
  { role: 'tool', content: 'sunny', tool_call_id: 'c1' },
  { role: 'user', content: 'and Rome?' }
];

describe('toolCallSchema', () => {
  it('forces nothing for none, auto or no choice', () => {
    expect(toolCallSchema([weather], undefined)).toBeNull();
    expect(toolCallSchema([weather], 'none')).toBeNull();
    expect(toolCallSchema([weather], 'auto')).toBeNull();
  });

  it('required: one branch per tool, each name with its own arguments', () => {
    expect(toolCallSchema([weather, ping], 'required')).toEqual({
      oneOf: [
        {
          type: 'object',
          properties: { name: { const: 'get_weather' }, arguments: weather.function.parameters },
          required: ['name', 'arguments']
        },
        {
          type: 'object',
          properties: { name: { const: 'ping' }, arguments: { type: 'object', properties: {} } },
          required: ['name', 'arguments']
        }
      ]
    });
    // One tool: its branch alone.
    expect(toolCallSchema([weather], 'required')).toMatchObject({
      properties: { name: { const: 'get_weather' } }
    });
  });

  it('a named tool allows that tool only, and must be among the tools', () => {
    const schema = toolCallSchema([weather, ping], {
      type: 'function',
      function: { name: 'ping' }
    });
    expect(schema).toMatchObject({ properties: { name: { const: 'ping' } } });
    expect(() =>
      toolCallSchema([weather], { type: 'function', function: { name: 'nope' } })
    ).toThrow(/toolChoice names tool "nope", which is not in tools/);
    expect(() => toolCallSchema([], 'required')).toThrow(/needs tools/);
  });
});

describe('parseToolCallOutput', () => {
  it('returns the name and the arguments as JSON text', () => {
    expect(parseToolCallOutput('{"name": "get_weather", "arguments": {"city": "Rome"}}')).toEqual({
      name: 'get_weather',
      arguments: '{"city":"Rome"}'
    });
  });

  it('throws InvalidToolCallOutputError for cut or foreign output', () => {
    expect(() => parseToolCallOutput('{"name": "get_wea')).toThrow(/not complete JSON/);
    expect(() => parseToolCallOutput('{"city": "Rome"}')).toThrow(/no name and arguments/);
  });
});

describe('tool validation', () => {
  it('rejects malformed tool definitions naming the entry', () => {
    expect(() => validateTools([weather, ping])).not.toThrow();
    expect(() => validateTools({})).toThrow(/tools must be an array/);
    expect(() => validateTools([{ type: 'function', function: { name: 'a b' } }])).toThrow(
      /tools\[0\]\.function\.name must match/
    );
    expect(() => validateTools([ping, ping])).toThrow(/ping is used twice/);
    expect(() =>
      validateTools([{ type: 'function', function: { name: 'x', parameters: 'object' } }])
    ).toThrow(/tools\[0\]\.function\.parameters must be a JSON schema object/);
  });

  it('checks tool messages and tool calls in generate() options', () => {
    const ok = () => validateGenerateOptions({ messages: chat, tools: [weather] });
    expect(ok).not.toThrow();
    const bad: Array<[ChatMessage[], RegExp]> = [
      [[{ role: 'tool', content: 'x' }], /a tool message needs tool_call_id/],
      [
        [{ role: 'user', content: 'x', tool_call_id: 'c1' }],
        /only tool messages carry tool_call_id/
      ],
      [
        [{ role: 'user', content: 'x', tool_calls: [] }],
        /only assistant messages carry tool_calls/
      ],
      [
        [{ role: 'assistant', content: '', tool_calls: [{ id: 'c1' } as never] }],
        /each tool call needs id/
      ]
    ];
    for (const [messages, message] of bad)
      expect(() => validateGenerateOptions({ messages })).toThrow(message);
    expect(() => validateGenerateOptions({ prompt: 'x', tools: [weather] })).toThrow(
      /tools need messages/
    );
  });
});

describe('rendering tool calls and results', () => {
  it('pairs each call with its result and renders both in the wrapper syntax, tools documented', () => {
    const history = chatHistoryWithToolCalls(chat);
    expect(history).toEqual([
      { type: 'user', text: 'weather in Paris?' },
      {
        type: 'model',
        response: [
          { type: 'functionCall', name: 'get_weather', params: { city: 'Paris' }, result: 'sunny' }
        ]
      },
      { type: 'user', text: 'and Rome?' }
    ]);
    const { contextText } = new ChatMLChatWrapper().generateContextState({
      chatHistory: [...history, { type: 'model', response: [] }],
      availableFunctions: toAvailableFunctions([weather])
    });
    const text = contextText.toString();
    expect(text).toContain('||call: get_weather');
    expect(text).toContain('"city": "Paris"');
    expect(text).toContain('||result: "sunny"');
    expect(text).toContain('function get_weather(params: {city: string});');
    expect(text).toContain('// Weather for a city');
  });

  it('refuses a result without a call and a call without a result', () => {
    expect(() =>
      chatHistoryWithToolCalls([{ role: 'tool', content: 'x', tool_call_id: 'c9' }])
    ).toThrow(/tool message "c9" answers no earlier tool call/);
    expect(() => chatHistoryWithToolCalls(chat.slice(0, 2))).toThrow(
      /tool call "c1" has no tool message answering it/
    );
  });
});
