/**
 * The workflow request surface: `POST /v1/agents/tasks` bodies (`AgentTaskRequest`), their
 * validation with the predecessor's exact `detail` strings, and the response envelopes.
 * Framework-free: the browser form validates with the same function before it submits.
 */
import { z } from 'zod';
import { parsePolicy, type ExecutionPolicy } from './policy.js';
import type {
  ExecutionReceipt,
  ExecutionStatus,
  ExecutionSummary,
  ProvenanceGraph
} from './receipts.js';

const WORKFLOW_KIND = 'research_brief';
/** Most sources one task may carry (v1); the planner sees only these. */
export const MAX_RESEARCH_SOURCES = 6;
/** Source content is truncated to this many characters before it reaches a prompt. */
export const MAX_SOURCE_CHARS = 6_000;
/** Longest source content accepted at all, in characters (longer is a 400, not a truncation). */
const MAX_SOURCE_INPUT_CHARS = 200_000;
/** Longest question accepted, in characters. */
const MAX_QUESTION_CHARS = 4_000;

export interface ResearchSource {
  id: string;
  title: string | null;
  content: string;
}

/** A validated, normalized task. */
export interface AgentTask {
  workflow_kind: typeof WORKFLOW_KIND;
  question: string;
  sources: ResearchSource[];
  policy: ExecutionPolicy;
  model: string | null;
}

const loose = z.looseObject({});

const str = (v: unknown) => (typeof v === 'string' ? v.trim() : undefined);

/**
 * Validates an untrusted body. Returns the task or the first failure as a `detail` string:
 * `workflow_kind must be research_brief`, `question is required`, `at least one source is
 * required`, `at most 6 sources are supported in v1`, `duplicate source id: {id}`,
 * `source {id} content is required`, or `policy.<field>: <rule>` / `<field> must be ...`.
 * Each source's content may be sent as `content` or `text`; a blank id becomes `source-{n}`.
 */
export function parseAgentTask(
  body: unknown
): { ok: true; task: AgentTask } | { ok: false; detail: string } {
  if (!loose.safeParse(body).success || Array.isArray(body))
    return { ok: false, detail: 'request body must be a JSON object' };
  const b = body as Record<string, unknown>;
  if (str(b.workflow_kind) !== WORKFLOW_KIND)
    return { ok: false, detail: 'workflow_kind must be research_brief' };
  const question = str(b.question);
  if (!question) return { ok: false, detail: 'question is required' };
  if (question.length > MAX_QUESTION_CHARS)
    return { ok: false, detail: `question must be at most ${MAX_QUESTION_CHARS} characters` };
  if (b.sources !== undefined && b.sources !== null && !Array.isArray(b.sources)) {
    return { ok: false, detail: 'sources must be an array' };
  }
  const rawSources = (b.sources as unknown[] | undefined) ?? [];
  if (rawSources.length === 0) return { ok: false, detail: 'at least one source is required' };
  if (rawSources.length > MAX_RESEARCH_SOURCES) {
    return { ok: false, detail: `at most ${MAX_RESEARCH_SOURCES} sources are supported in v1` };
  }
  const sources: ResearchSource[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < rawSources.length; i++) {
    const s = rawSources[i];
    if (typeof s !== 'object' || s === null || Array.isArray(s))
      return { ok: false, detail: `sources.${i} must be an object` };
    const src = s as Record<string, unknown>;
    if (src.id !== undefined && src.id !== null && typeof src.id !== 'string') {
      return { ok: false, detail: `sources.${i}.id must be a string` };
    }
    const id = str(src.id) || `source-${i + 1}`;
    if (id.length > 128)
      return { ok: false, detail: `sources.${i}.id must be at most 128 characters` };
    if (seen.has(id)) return { ok: false, detail: `duplicate source id: ${id}` };
    seen.add(id);
    const content = str(src.content) ?? str(src.text);
    if (!content) return { ok: false, detail: `source ${id} content is required` };
    if (content.length > MAX_SOURCE_INPUT_CHARS) {
      return {
        ok: false,
        detail: `source ${id} content must be at most ${MAX_SOURCE_INPUT_CHARS} characters`
      };
    }
    const title = str(src.title) || null;
    sources.push({ id, title, content });
  }
  const policy = parsePolicy(b.policy);
  if (!policy.ok) return policy;
  if (b.model !== undefined && b.model !== null && typeof b.model !== 'string')
    return { ok: false, detail: 'model must be a string' };
  return {
    ok: true,
    task: {
      workflow_kind: WORKFLOW_KIND,
      question,
      sources,
      policy: policy.policy,
      model: str(b.model) || null
    }
  };
}

/** Response of a finished execution (`AgentTaskResponse`): the whole bundle, ok or not. */
export interface AgentTaskResponse {
  ok: boolean;
  detail?: string | null;
  execution: ExecutionSummary;
  provenance: ProvenanceGraph;
  receipts: ExecutionReceipt[];
}

/** 202 response of an asynchronous submission. */
export interface AgentTaskAccepted {
  ok: true;
  execution_id: string;
  status: ExecutionStatus;
  /** True when an Idempotency-Key matched an earlier submission. */
  is_replay: boolean;
  links: { self: string; receipts: string; provenance: string; verify: string };
}
