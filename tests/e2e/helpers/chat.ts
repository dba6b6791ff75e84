/**
 * A greedy chat completion against the stack's oracle with the official `openai` client,
 * returning the text and the speculation stats the oracle reports in its headers.
 */
import OpenAI from 'openai';
import type { MeshStack } from './stack.js';

export const SCOUT_PROMPT = 'The quick brown fox said that the river';

export async function chatWithStats(
  stack: MeshStack,
  maxTokens: number,
  speculation: 'on' | 'off'
): Promise<{ text: string; draftSource: string | null; drafted: number; accepted: number }> {
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'unused' });
  const { data, response } = await client.chat.completions
    .create(
      {
        model: stack.engine.modelId,
        messages: [{ role: 'user', content: SCOUT_PROMPT }],
        max_tokens: maxTokens,
        temperature: 0
      },
      { headers: { 'x-shard-speculation': speculation } }
    )
    .withResponse();
  return {
    text: data.choices[0].message.content ?? '',
    draftSource: response.headers.get('x-shard-draft-source'),
    drafted: Number(response.headers.get('x-shard-drafted')),
    accepted: Number(response.headers.get('x-shard-accepted'))
  };
}
