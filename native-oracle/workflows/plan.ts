/**
 * The research_brief plan: the three step specs (what each step needs from a candidate), the
 * JSON schema the planner's output must follow, and the rules that read a planner's output into
 * a `Plan` (predecessor §3.1, §3.3). Pure: no I/O, no receipts.
 */
import { MAX_RESEARCH_SOURCES } from '../../src/lib/protocol/workflow.js';
import type { StepSpec } from './ranking.js';

/** Step 1: choose sources and sub-questions (grammar-constrained JSON). */
export const PLANNER_STEP: Omit<StepSpec, 'step_id'> = {
  step_kind: 'planner',
  capability_tag: 'planning',
  required_tags: ['planning', 'reasoning'],
  max_tokens: 220
};
/** Step 2, once per selected source: a plain-text summary focused on the sub-questions. */
export const SUMMARIZE_STEP: Omit<StepSpec, 'step_id'> = {
  step_kind: 'summarize_source',
  capability_tag: 'summarization',
  required_tags: ['summarization', 'low_cost'],
  max_tokens: 260
};
/** Step 3: the brief, from the plan and the summaries. */
export const SYNTHESIZE_STEP: Omit<StepSpec, 'step_id'> = {
  step_kind: 'synthesize_brief',
  capability_tag: 'synthesis',
  required_tags: ['synthesis', 'specialist', 'reasoning'],
  max_tokens: 420
};

/** At most this many sub-questions are kept from a planner's output (and asked for in the schema). */
const MAX_SUB_QUESTIONS = 4;

/** JSON schema of the planner's output, restricted to the given source ids (for grammar-constrained decoding). */
export function plannerJsonSchema(sourceIds: readonly string[]): object {
  const ids = { type: 'array', items: { enum: [...sourceIds] }, maxItems: sourceIds.length };
  return {
    type: 'object',
    properties: {
      planner_notes: { type: 'string', maxLength: 200 },
      selected_source_ids: ids,
      sub_questions: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_SUB_QUESTIONS,
        items: {
          type: 'object',
          properties: { question: { type: 'string', maxLength: 160 }, relevant_source_ids: ids },
          required: ['question', 'relevant_source_ids']
        }
      }
    },
    required: ['planner_notes', 'selected_source_ids', 'sub_questions']
  };
}

export interface Plan {
  planner_notes: string;
  selected_source_ids: string[];
  sub_questions: Array<{ question: string; relevant_source_ids: string[] }>;
}

/**
 * Reads planner output (predecessor §3.3): a structured object as is, or from text the JSON
 * object between the first `{` and the last `}`; only ids of the first 6 sources, de-duplicated;
 * at most 4 non-empty sub-questions; empty selection → union of the sub-questions' ids → first
 * ≤6 sources; no sub-question → one for the main question. Never throws: free text yields the
 * fallbacks.
 */
export function parsePlan(raw: unknown, question: string, sourceIds: readonly string[]): Plan {
  const allowed = sourceIds.slice(0, MAX_RESEARCH_SOURCES);
  const obj = planObject(raw);
  const cleanIds = (v: unknown) => [
    ...new Set(
      (Array.isArray(v) ? v : []).filter(
        (x): x is string => typeof x === 'string' && allowed.includes(x)
      )
    )
  ];
  const subs = (Array.isArray(obj.sub_questions) ? obj.sub_questions : [])
    .filter((s): s is Record<string, unknown> => !!s && typeof s === 'object')
    .map((s) => ({
      question: typeof s.question === 'string' ? s.question.trim() : '',
      relevant_source_ids: cleanIds(s.relevant_source_ids)
    }))
    .filter((s) => s.question.length > 0)
    .slice(0, MAX_SUB_QUESTIONS);
  let selected = cleanIds(obj.selected_source_ids);
  if (selected.length === 0) selected = [...new Set(subs.flatMap((s) => s.relevant_source_ids))];
  if (selected.length === 0) selected = [...allowed];
  const subQuestions =
    subs.length > 0
      ? subs
      : [{ question: `Answer the main question: ${question}`, relevant_source_ids: [...selected] }];
  const notes =
    typeof obj.planner_notes === 'string' && obj.planner_notes.trim()
      ? obj.planner_notes.trim()
      : `Focus on ${selected.length} source(s): ${selected.join(', ')}.`;
  return { planner_notes: notes, selected_source_ids: selected, sub_questions: subQuestions };
}

/** The planner's output as an object: structured output as is, text by its outermost braces, else `{}`. */
function planObject(raw: unknown): Record<string, unknown> {
  if (raw && typeof raw === 'object') return raw as Record<string, unknown>;
  if (typeof raw !== 'string') return {};
  const start = raw.indexOf('{');
  const end = raw.lastIndexOf('}');
  if (start < 0 || end <= start) return {};
  try {
    const v = JSON.parse(raw.slice(start, end + 1)) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    // Free text: parsePlan falls back to every source and one sub-question.
    return {};
  }
}

/** The sub-questions a summary of `sourceId` should answer: those naming it or naming no source. */
export function focusQuestions(plan: Plan, sourceId: string): string[] {
  return plan.sub_questions
    .filter((q) => q.relevant_source_ids.length === 0 || q.relevant_source_ids.includes(sourceId))
    .map((q) => q.question);
}
