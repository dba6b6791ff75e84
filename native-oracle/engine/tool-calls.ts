/**
 * Tool calls (OpenAI `tools`, `tool_choice`, assistant `tool_calls`, `role: 'tool'`) on the
 * engine side, framework-free:
 *
 * - Rendering: ./prompt-renderer.ts hands the chat to node-llama-cpp's chat wrapper as history
 *   with function calls (`chatHistoryWithToolCalls` below: each assistant tool call paired with
 *   the tool message that answers it) and the tools as `availableFunctions`; the wrapper renders
 *   both in the model's own function-calling syntax, or, for a template without one (the
 *   generated models' ChatML template), in node-llama-cpp's generic text syntax
 *   (`||call: name({...})`, `||result: ...`, tools documented in the system message).
 * - Forcing a valid call: `toolCallSchema(tools, choice)` is a JSON schema for
 *   `{ "name": <an allowed tool>, "arguments": <that tool's parameters> }`, which the engine's
 *   constrained (grammar) decoding enforces when passed as `GenerateOptions.jsonSchema`;
 *   `parseToolCallOutput(text)` turns the generated JSON into an OpenAI tool call.
 *
 * The engine does not detect calls in free text (`tool_choice: auto` generates text).
 */
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions } from 'node-llama-cpp';
import { InvalidGenerateOptionsError, InvalidToolCallOutputError } from './errors.js';
import type { ChatMessage, ToolChoice, ToolDefinition } from './index.js';

/** OpenAI's rule for function names: letters, digits, underscores and dashes, at most 64. */
const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
/**
 * Tools per request at most: each is documented in the prompt and is a branch of the forced
 * call's grammar (OpenAI's limit is 128).
 */
export const MAX_TOOLS = 128;

/** The parameters schema of a tool without one: an object with no properties. */
const NO_PARAMETERS = { type: 'object', properties: {} } as const;

/** Throws InvalidGenerateOptionsError naming the first malformed tool definition. */
export function validateTools(tools: unknown): asserts tools is ToolDefinition[] {
  const fail = (m: string): never => {
    throw new InvalidGenerateOptionsError(m);
  };
  if (!Array.isArray(tools)) fail('tools must be an array');
  const list = tools as unknown[];
  if (list.length > MAX_TOOLS) fail(`tools has ${list.length} entries; at most ${MAX_TOOLS}`);
  const names = new Set<string>();
  list.forEach((tool, i) => {
    const t = tool as Partial<ToolDefinition> | null;
    if (!t || t.type !== 'function' || !t.function || typeof t.function !== 'object')
      fail(`tools[${i}] must be { type: 'function', function: { name, parameters? } }`);
    const { name, parameters, description } = t!.function!;
    if (typeof name !== 'string' || !TOOL_NAME_PATTERN.test(name))
      fail(`tools[${i}].function.name must match ${TOOL_NAME_PATTERN}`);
    if (names.has(name)) fail(`tools[${i}].function.name ${name} is used twice`);
    names.add(name);
    if (parameters !== undefined && (typeof parameters !== 'object' || parameters === null))
      fail(`tools[${i}].function.parameters must be a JSON schema object`);
    if (description !== undefined && typeof description !== 'string')
      fail(`tools[${i}].function.description must be a string`);
  });
}

/**
 * The JSON schema that forces a call under `choice`, or null when nothing is forced (`none`,
 * `auto`, or no choice). `required` allows any tool (one schema branch per tool, so each name
 * comes with its own arguments); a named choice allows that tool only. Throws
 * InvalidGenerateOptionsError when a call is required but `tools` is empty, or the named tool
 * is not among `tools`.
 */
export function toolCallSchema(
  tools: readonly ToolDefinition[],
  choice: ToolChoice | undefined
): object | null {
  if (choice === undefined || choice === 'none' || choice === 'auto') return null;
  const branch = (t: ToolDefinition) => ({
    type: 'object',
    properties: {
      name: { const: t.function.name },
      arguments: t.function.parameters ?? NO_PARAMETERS
    },
    required: ['name', 'arguments']
  });
  if (choice === 'required') {
    if (tools.length === 0)
      throw new InvalidGenerateOptionsError('toolChoice required needs tools');
    return tools.length === 1 ? branch(tools[0]) : { oneOf: tools.map(branch) };
  }
  const named = tools.find((t) => t.function.name === choice.function.name);
  if (!named)
    throw new InvalidGenerateOptionsError(
      `toolChoice names tool ${JSON.stringify(choice.function.name)}, which is not in tools`
    );
  return branch(named);
}

/**
 * The call in output generated under toolCallSchema(): `{ name, arguments }` with `arguments`
 * as JSON text (OpenAI's `tool_calls[].function`). Throws InvalidToolCallOutputError when the
 * text is not a complete call (e.g. the output hit maxTokens).
 */
export function parseToolCallOutput(text: string): { name: string; arguments: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidToolCallOutputError('the tool call output is not complete JSON', {
      cause: err
    });
  }
  const call = value as { name?: unknown; arguments?: unknown } | null;
  if (!call || typeof call.name !== 'string' || call.arguments === undefined)
    throw new InvalidToolCallOutputError('the tool call output has no name and arguments');
  return { name: call.name, arguments: JSON.stringify(call.arguments) };
}

/** The tools as node-llama-cpp's `availableFunctions` (documented in the prompt). */
export function toAvailableFunctions(tools: readonly ToolDefinition[]): ChatModelFunctions {
  return Object.fromEntries(
    tools.map((t) => [
      t.function.name,
      {
        ...(t.function.description ? { description: t.function.description } : {}),
        params: (t.function.parameters ?? NO_PARAMETERS) as never
      }
    ])
  );
}

/**
 * The chat as node-llama-cpp history: an assistant message's `tool_calls` become function-call
 * items carrying the result of the `tool` message with the same `tool_call_id`; tool messages are
 * consumed that way. Throws InvalidGenerateOptionsError for a tool message that answers no
 * earlier call, or a call that no tool message answers (as OpenAI's API does).
 */
export function chatHistoryWithToolCalls(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const results = new Map<string, string>();
  const calledIds = new Set<string>();
  for (const m of messages) {
    if (m.role === 'tool') {
      if (!calledIds.has(m.tool_call_id!))
        throw new InvalidGenerateOptionsError(
          `tool message ${JSON.stringify(m.tool_call_id)} answers no earlier tool call`
        );
      results.set(m.tool_call_id!, m.content);
    }
    for (const call of m.tool_calls ?? []) calledIds.add(call.id);
  }
  const history: ChatHistoryItem[] = [];
  for (const m of messages) {
    if (m.role === 'tool') continue;
    if (m.role !== 'assistant') {
      history.push({ type: m.role, text: m.content });
      continue;
    }
    const calls = (m.tool_calls ?? []).map((call): ChatModelFunctionCall => {
      if (!results.has(call.id))
        throw new InvalidGenerateOptionsError(
          `tool call ${JSON.stringify(call.id)} has no tool message answering it`
        );
      return {
        type: 'functionCall',
        name: call.function.name,
        params: parseArguments(call.function.arguments),
        result: results.get(call.id)
      };
    });
    history.push({ type: 'model', response: [...(m.content ? [m.content] : []), ...calls] });
  }
  return history;
}

/** A call's arguments as a value when they are JSON, else the text as the client sent it. */
function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
