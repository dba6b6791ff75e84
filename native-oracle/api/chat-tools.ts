/**
 * Tool calling on the chat route (OpenAI `tools`, `tool_choice`, assistant `tool_calls`,
 * `role: "tool"` turns): the request's messages as the engine's ChatMessages, the plan for one
 * request, and the reading of the finished output. The rule per `tool_choice`:
 *
 * - `none` (the default without tools): the tools are documented in the prompt, the output is
 *   text.
 * - `required` / `{ type: 'function', function: { name } }`: the output is grammar-constrained
 *   (the engine's toolCallSchema) to `{ "name": <an allowed tool>, "arguments": <its schema> }`,
 *   so the reply is always one valid call naming an allowed tool (`finish_reason: tool_calls`),
 *   unless max_tokens cuts it (then the partial text comes back with `finish_reason: length`).
 * - `auto` (the default with tools): the model decides through a grammar that allows either a
 *   call (as above) or `{ "content": "<text>" }`, which is answered as plain text. With the
 *   generated test models the choice and the text are word salad, like all their output.
 *
 * A structured output is sent when complete (streams too: then tool-call deltas, or the text as
 * one content delta), since it is only known to be a call or text once parsed. At most one call
 * is generated per turn, which honours `parallel_tool_calls` either way.
 */
import { randomBytes } from 'node:crypto';
import {
  parseToolCallOutput,
  toolCallSchema,
  type ChatMessage,
  type ToolDefinition
} from '../engine/index.js';
import { BadRequestError } from '../http/errors.js';
import type { ChatCompletionRequest, ChatMessageInput, ToolInput } from './chat-schema.js';

/** How one request generates and how its output is read. */
export interface ToolPlan {
  /** Tools documented in the prompt (engine `tools`); absent without tools. */
  tools?: ToolDefinition[];
  /** Grammar the output must follow (a forced or optional call); undefined for free text. */
  jsonSchema?: object;
  /** True when the output is JSON to be read by readToolOutput (a call, or wrapped text). */
  isStructured: boolean;
}

/** What a finished output means: text content, or one tool call. */
export interface ToolOutput {
  content: string | null;
  toolCall?: { id: string; type: 'function'; function: { name: string; arguments: string } };
}

/** The `auto` grammar's text branch: the model answers in words, wrapped as `{content}`. */
const TEXT_BRANCH = {
  type: 'object',
  properties: { content: { type: 'string' } },
  required: ['content']
};

const textOf = (content: ChatMessageInput['content']) =>
  content == null
    ? ''
    : typeof content === 'string'
      ? content
      : content.map((p) => p.text).join('');

/** The request's messages for the engine; `developer` is read as `system`. */
export function toEngineMessages(messages: readonly ChatMessageInput[]): ChatMessage[] {
  return messages.map((m): ChatMessage => {
    if (m.role === 'tool')
      return { role: 'tool', content: textOf(m.content), tool_call_id: m.tool_call_id };
    if (m.role === 'assistant')
      return {
        role: 'assistant',
        content: textOf(m.content),
        ...(m.tool_calls && m.tool_calls.length > 0 ? { tool_calls: m.tool_calls } : {})
      };
    return { role: m.role === 'developer' ? 'system' : m.role, content: textOf(m.content) };
  });
}

const toDefinition = (t: ToolInput): ToolDefinition => ({
  type: 'function',
  function: {
    name: t.function.name,
    ...(t.function.description !== undefined ? { description: t.function.description } : {}),
    ...(t.function.parameters !== undefined ? { parameters: t.function.parameters } : {})
  }
});

/**
 * The plan for `tools` / `tool_choice` (rule in the file comment). Throws 400 naming the field
 * for a call required without tools, a named tool that is not in `tools`, duplicate tool names,
 * or a tool choice combined with a `response_format` that constrains the output too.
 */
export function planTools(body: ChatCompletionRequest): ToolPlan {
  const tools = (body.tools ?? []).map(toDefinition);
  const choice = body.tool_choice ?? (tools.length > 0 ? 'auto' : 'none');
  const fail = (param: string, message: string) =>
    new BadRequestError(`${param}: ${message}`, 'invalid_request', param);
  if (tools.length === 0) {
    if (choice !== 'none' && choice !== 'auto')
      throw fail('tool_choice', 'a tool call is required but no tools were sent');
    return { isStructured: false };
  }
  const names = new Set<string>();
  tools.forEach((t, i) => {
    if (names.has(t.function.name))
      throw fail(`tools.${i}.function.name`, `${t.function.name} is used twice`);
    names.add(t.function.name);
  });
  if (typeof choice === 'object' && !names.has(choice.function.name))
    throw fail(
      'tool_choice',
      `names tool ${JSON.stringify(choice.function.name)}, which is not in tools`
    );
  if (choice === 'none') return { tools, isStructured: false };
  const format = body.response_format?.type;
  if (format === 'json_schema' || format === 'json_object')
    throw fail(
      'response_format',
      `cannot be combined with tool_choice ${JSON.stringify(choice)}: both constrain the output (send tool_choice "none")`
    );
  const call = toolCallSchema(tools, choice === 'auto' ? 'required' : choice)!;
  if (choice !== 'auto') return { tools, jsonSchema: call, isStructured: true };
  const callBranches = 'oneOf' in call ? (call.oneOf as object[]) : [call];
  return { tools, jsonSchema: { oneOf: [TEXT_BRANCH, ...callBranches] }, isStructured: true };
}

/**
 * Reads a finished output under `plan`: a call (`{name, arguments}`), text (`{content}` of the
 * `auto` grammar, or free text), or, when the output is not complete JSON (cut by max_tokens),
 * the raw text.
 */
export function readToolOutput(plan: ToolPlan, text: string): ToolOutput {
  if (!plan.isStructured) return { content: text };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { content: text };
  }
  if (value && typeof value === 'object' && 'name' in value) {
    const call = parseToolCallOutput(text);
    return {
      content: null,
      toolCall: { id: `call_${randomBytes(12).toString('hex')}`, type: 'function', function: call }
    };
  }
  const content = (value as { content?: unknown } | null)?.content;
  return { content: typeof content === 'string' ? content : text };
}
