/**
 * Tool calls on the real llama.cpp (generated target, 1 thread): a chat with an earlier tool
 * call and its result is rendered (more prompt tokens than without the tool traffic), and a
 * required or named tool choice, forced through the JSON-schema grammar, produces a call that
 * parses and names an allowed tool with arguments of that tool's schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTargetEngine,
  parseToolCallOutput,
  toolCallSchema,
  type ChatMessage,
  type TargetEngine,
  type ToolDefinition
} from '../../native-oracle/engine/index.js';
import { ensureTestModels } from '../helpers/models.js';

let engine: TargetEngine;

const tools: ToolDefinition[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 16 } },
        required: ['city']
      }
    }
  },
  {
    type: 'function',
    function: {
      name: 'set_alarm',
      parameters: {
        type: 'object',
        properties: { hour: { enum: [6, 7, 8] } },
        required: ['hour']
      }
    }
  }
];

const messages: ChatMessage[] = [
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
  { role: 'user', content: 'and Rome? then wake me' }
];

async function finalText(options: Parameters<TargetEngine['generate']>[0]) {
  for await (const event of engine.generate(options)) if (event.type === 'done') return event;
  throw new Error('no done event');
}

beforeAll(async () => {
  const models = await ensureTestModels();
  engine = await createTargetEngine({
    modelPath: models.targetPath,
    threads: 1,
    contextSize: 1024,
    maxConcurrent: 1
  });
});

afterAll(async () => {
  await engine?.dispose();
});

describe('target engine: tool calls', () => {
  it('renders earlier calls, results and the tools into the prompt', () => {
    const plain = engine.countChatTokens([messages[0], messages[3]]);
    const withCalls = engine.countChatTokens(messages);
    const withTools = engine.countChatTokens(messages, tools);
    expect(withCalls).toBeGreaterThan(plain);
    expect(withTools).toBeGreaterThan(withCalls);
  });

  it('a required tool call produces JSON that parses and names an allowed tool', async () => {
    const done = await finalText({
      messages,
      tools,
      maxTokens: 96,
      jsonSchema: toolCallSchema(tools, 'required')!
    });
    expect(done.finishReason).toBe('stop');
    expect(done.stats.promptTokens).toBe(engine.countChatTokens(messages, tools));
    const call = parseToolCallOutput(done.text);
    expect(tools.map((t) => t.function.name)).toContain(call.name);
    const args = JSON.parse(call.arguments) as Record<string, unknown>;
    if (call.name === 'get_weather') expect(typeof args.city).toBe('string');
    else expect([6, 7, 8]).toContain(args.hour);
  });

  it('a named tool choice calls that tool', async () => {
    const done = await finalText({
      messages,
      tools,
      maxTokens: 96,
      temperature: 0.8,
      seed: 5,
      jsonSchema: toolCallSchema(tools, { type: 'function', function: { name: 'set_alarm' } })!
    });
    const call = parseToolCallOutput(done.text);
    expect(call.name).toBe('set_alarm');
    expect([6, 7, 8]).toContain((JSON.parse(call.arguments) as { hour: number }).hour);
  });
});
