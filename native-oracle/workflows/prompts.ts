/**
 * The research_brief prompts (predecessor §3.1): one system prompt shared by every step and one
 * user prompt per step kind. Pure string building; model executors send these, the extractive
 * executor reads the structured step input instead.
 */
import type { ChatMessage } from '../engine/index.js';
import type { SourceSummary } from '../../src/lib/protocol/receipts.js';
import { MAX_RESEARCH_SOURCES, type ResearchSource } from '../../src/lib/protocol/workflow.js';
import type { Plan } from './plan.js';

const SYSTEM_PROMPT =
  'You are a Shard research workflow worker. Return only task output with no prefatory text.';

/** The chat messages of one step: the shared system prompt, then the step's user prompt. */
export function stepMessages(userPrompt: string): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: userPrompt }
  ];
}

/** Asks for the plan as JSON over the first 6 sources (ids and titles only, no content). */
export function plannerPrompt(question: string, sources: readonly ResearchSource[]): string {
  return [
    'Plan a research brief. Return ONLY a JSON object {"planner_notes":"…","selected_source_ids":[…],"sub_questions":[{"question":"…","relevant_source_ids":[…]}]} with 2-4 sub-questions, using only the source ids listed below. No markdown fences.',
    `Question: ${question}`,
    'Sources:',
    ...sources.slice(0, MAX_RESEARCH_SOURCES).map((s) => `- ${s.id}: ${s.title ?? '(untitled)'}`)
  ].join('\n');
}

/** Asks for a plain-text summary of one source, focused on the sub-questions that concern it. */
export function summarizePrompt(options: {
  question: string;
  plan: Plan;
  focus: readonly string[];
  source: ResearchSource;
}): string {
  const { question, plan, focus, source } = options;
  return [
    `Question: ${question}`,
    `Planner notes: ${plan.planner_notes}`,
    'Focus questions for this source:',
    ...(focus.length > 0
      ? focus.map((q) => `- ${q}`)
      : ['- Pull out the facts most relevant to the question.']),
    `Source ${source.id}${source.title ? ` (${source.title})` : ''}:`,
    source.content,
    'Highlight the most relevant facts, risks, and contradictions. Return plain text only.'
  ].join('\n');
}

/** Asks for the brief from the plan and every source summary. */
export function synthesizePrompt(
  question: string,
  plan: Plan,
  summaries: readonly SourceSummary[]
): string {
  return [
    'Write a research brief that answers the question. Include: direct answer, supporting evidence, disagreements or uncertainty, and a short recommended next step.',
    `Question: ${question}`,
    `Planner notes: ${plan.planner_notes}`,
    'Sub-questions:',
    ...plan.sub_questions.map((q) => `- ${q.question} [${q.relevant_source_ids.join(', ')}]`),
    'Source summaries:',
    ...summaries.map((s) => `- ${s.source_id}${s.title ? ` (${s.title})` : ''}: ${s.summary}`)
  ].join('\n');
}
