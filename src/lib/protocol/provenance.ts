/**
 * Everything derived from an execution's receipts, recomputed on every read (no stored mutable
 * state): the provenance graph (rebuilt from `parent_receipt_id` links only), the execution
 * summary, a W3C PROV-JSON document and OpenTelemetry GenAI spans.
 *
 * All functions are pure and independent of the order receipts arrive in: nodes are sorted by
 * (timestamp_ms, seq, receipt_id) first. Framework-free, shared by oracle and browser.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type {
  ExecutionReceipt,
  ExecutionStatus,
  ExecutionSummary,
  ProvenanceEdge,
  ProvenanceGraph,
  ProvenanceNode
} from './receipts.js';

/** Receipt fields the graph needs; anything else is ignored. */
type ReceiptLike = Pick<
  ExecutionReceipt,
  'receipt_id' | 'execution_id' | 'step_id' | 'attempt_id' | 'event_kind' | 'timestamp_ms'
> &
  Partial<ExecutionReceipt>;

/** Arrays this module's sortReceipts returned: already in order, handed back as they are. */
const isSorted = new WeakSet<readonly unknown[]>();

/**
 * Deterministic order: (timestamp_ms, seq, receipt_id). Receipts of one execution often share a
 * millisecond; seq (their chain position) orders those, since receipt ids are random. Returns a
 * new array, or the input itself when it is an array this function returned.
 */
export function sortReceipts<T extends ReceiptLike>(receipts: readonly T[]): T[] {
  if (isSorted.has(receipts)) return receipts as T[];
  // Decorate-sort-undecorate: numeric keys compared without property lookups in the comparator.
  const keyed = receipts.map((r, i) => ({ t: r.timestamp_ms, s: r.seq ?? 0, id: r.receipt_id, i }));
  keyed.sort((a, b) => a.t - b.t || a.s - b.s || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = keyed.map((k) => receipts[k.i]!);
  isSorted.add(out);
  return out;
}

/** A workflow's result, or a chat answer (its receipt carries `chat` in place of a result). */
const hasResult = (r: ReceiptLike) =>
  r.event_kind === 'completed' && (r.result != null || r.chat != null);

/**
 * Rebuilds the provenance graph of one execution.
 * 1. nodes 1:1 with receipts, sorted; label `{step_kind ?? step_id} · {event_kind}`;
 * 2. one edge parent -> child per receipt with a parent id (even when the parent is missing);
 * 3. root = first receipt whose parent is null or absent from the set, else the first receipt;
 * 4. branches: orphaned receipts; failed attempts followed by a fallback_applied child and the
 *    fallback itself (`fallback`); failures with no fallback child (`failed`); the rest `main`;
 * 5. incomplete = a parent is missing || anything is orphaned || no completed receipt has a result.
 */
export function buildProvenance(
  receipts: readonly ReceiptLike[],
  executionId?: string
): ProvenanceGraph {
  const sorted = sortReceipts(receipts);
  const byId = new Map<string, ReceiptLike>();
  for (const r of sorted) byId.set(r.receipt_id, r);
  // Children are only needed around fallbacks; build that index only when there are any.
  const fallbackParents = new Set<string>();
  for (const r of sorted) {
    if (r.event_kind === 'fallback_applied' && r.parent_receipt_id)
      fallbackParents.add(r.parent_receipt_id);
  }
  const children = new Map<string, ReceiptLike[]>();
  if (fallbackParents.size > 0) {
    for (const r of sorted) {
      if (!r.parent_receipt_id) continue;
      const list = children.get(r.parent_receipt_id);
      if (list) list.push(r);
      else children.set(r.parent_receipt_id, [r]);
    }
  }
  const hasFallbackChild = (id: string) => fallbackParents.has(id);
  const branchOf = (r: ReceiptLike): ProvenanceNode['branch'] => {
    if (r.event_kind === 'orphaned') return 'orphaned';
    if (r.event_kind === 'fallback_applied') return 'fallback';
    if (r.event_kind === 'failed') return hasFallbackChild(r.receipt_id) ? 'fallback' : 'failed';
    return 'main';
  };
  // Literal objects with every key (undefined when absent, dropped by JSON) keep one hidden
  // class for all nodes: adding keys one by one made 100k-node rebuilds ~2x slower.
  const nodes: ProvenanceNode[] = sorted.map((r) => ({
    receipt_id: r.receipt_id,
    parent_receipt_id: r.parent_receipt_id ?? null,
    step_id: r.step_id,
    attempt_id: r.attempt_id,
    event_kind: r.event_kind,
    timestamp_ms: r.timestamp_ms,
    seq: r.seq ?? 0,
    step_kind: r.step_kind ?? null,
    label: `${r.step_kind ?? r.step_id} · ${r.event_kind}`,
    supply_tier: r.supply_tier ?? undefined,
    trust_tier: r.trust_tier ?? undefined,
    latency_ms: r.latency_ms ?? undefined,
    estimated_cost_usd: r.estimated_cost_usd ?? undefined,
    actual_cost_usd: r.actual_cost_usd ?? undefined,
    failure_reason: r.failure_reason ?? undefined,
    fallback_reason: r.fallback_reason ?? undefined,
    summary: r.summary ?? undefined,
    selected_candidate: r.selected_candidate ?? undefined,
    model_metadata: r.model_metadata ?? undefined,
    branch: branchOf(r)
  }));
  const edges: ProvenanceEdge[] = [];
  const missing = new Set<string>();
  for (const r of sorted) {
    if (!r.parent_receipt_id) continue;
    const parent = byId.get(r.parent_receipt_id);
    if (!parent) missing.add(r.parent_receipt_id);
    edges.push({
      from_receipt_id: r.parent_receipt_id,
      to_receipt_id: r.receipt_id,
      is_fallback: r.event_kind === 'fallback_applied' || parent?.event_kind === 'fallback_applied'
    });
  }
  const root =
    sorted.find((r) => !r.parent_receipt_id || !byId.has(r.parent_receipt_id)) ?? sorted[0];
  const fallbackPaths: string[][] = [];
  for (const r of sorted) {
    if (r.event_kind !== 'fallback_applied') continue;
    const path =
      r.parent_receipt_id && byId.has(r.parent_receipt_id)
        ? [r.parent_receipt_id, r.receipt_id]
        : [r.receipt_id];
    // Follow the recovery inside the same step until it completes, fails or branches.
    let cursor = r;
    for (;;) {
      const next = (children.get(cursor.receipt_id) ?? []).filter((c) => c.step_id === r.step_id);
      if (next.length !== 1) break;
      cursor = next[0]!;
      path.push(cursor.receipt_id);
      if (cursor.event_kind !== 'dispatched') break;
    }
    fallbackPaths.push(path);
  }
  return {
    execution_id: executionId ?? sorted[0]?.execution_id ?? '',
    root_receipt_id: root?.receipt_id ?? null,
    nodes,
    edges,
    incomplete:
      missing.size > 0 ||
      sorted.some((r) => r.event_kind === 'orphaned') ||
      !sorted.some(hasResult),
    fallback_paths: fallbackPaths,
    missing_parent_ids: [...missing].sort()
  };
}

/** The status rule of the predecessor (§2.3): a result wins; else the last receipt decides. */
export function executionStatus(receipts: readonly ReceiptLike[]): ExecutionStatus {
  if (receipts.some(hasResult)) return 'completed';
  const last = sortReceipts(receipts).at(-1);
  if (last?.event_kind === 'failed') return 'failed';
  if (last?.event_kind === 'orphaned') return 'orphaned';
  return 'running';
}

/** Builds the execution summary (§2.3). Returns null for an empty receipt set. */
export function summarizeExecution(receipts: readonly ReceiptLike[]): ExecutionSummary | null {
  const sorted = sortReceipts(receipts);
  const first = sorted[0];
  const last = sorted.at(-1);
  if (!first || !last) return null;
  const lastWith = <K extends keyof ReceiptLike>(key: K) => {
    for (let i = sorted.length - 1; i >= 0; i--)
      if (sorted[i]![key] != null) return sorted[i]![key];
    return undefined;
  };
  const context = sorted.find((r) => r.task_context != null)?.task_context;
  let cost = 0;
  for (const r of sorted)
    if (r.step_kind !== 'workflow_result' && r.step_kind !== 'workflow')
      cost += r.actual_cost_usd ?? 0;
  return {
    execution_id: first.execution_id,
    workflow_kind: first.workflow_kind ?? 'research_brief',
    status: executionStatus(sorted),
    created_at_ms: first.timestamp_ms,
    updated_at_ms: last.timestamp_ms,
    current_step: (lastWith('step_kind') as string | undefined) ?? null,
    question: context?.question ?? null,
    source_count: context?.source_count ?? 0,
    latest_summary: (lastWith('summary') as string | undefined) ?? null,
    result: (lastWith('result') as ExecutionSummary['result']) ?? null,
    receipt_count: sorted.length,
    observed_cost_usd: round6(cost)
  };
}

/** Rounds a USD amount to micro-dollars (receipts record costs at this precision). */
export function round6(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * W3C PROV-JSON (https://www.w3.org/submissions/prov-json/) of an execution: every receipt an
 * entity derived from its parent receipt and attributed to the signing node; every attempt an
 * activity that generated its receipts and was associated with the candidate that ran it.
 */
export function toProvJson(receipts: readonly ReceiptLike[]): Record<string, unknown> {
  const sorted = sortReceipts(receipts);
  const entity: Record<string, unknown> = {};
  const activity: Record<string, Record<string, unknown>> = {};
  const agent: Record<string, unknown> = {};
  const wasGeneratedBy: Record<string, unknown> = {};
  const wasDerivedFrom: Record<string, unknown> = {};
  const wasAttributedTo: Record<string, unknown> = {};
  const wasAssociatedWith: Record<string, unknown> = {};
  let n = 0;
  const rel = (prefix: string) => `_:${prefix}${++n}`;
  for (const r of sorted) {
    const e = `shard:${r.receipt_id}`;
    entity[e] = {
      'prov:type': 'shard:Receipt',
      'shard:event_kind': r.event_kind,
      'shard:step_id': r.step_id,
      'shard:seq': r.seq ?? null,
      ...(r.failure_reason ? { 'shard:failure_reason': r.failure_reason } : {}),
      ...(r.fallback_reason ? { 'shard:fallback_reason': r.fallback_reason } : {}),
      ...(r.actual_cost_usd != null ? { 'shard:actual_cost_usd': r.actual_cost_usd } : {}),
      ...(r.prev_hash ? { 'shard:prev_hash': r.prev_hash } : {})
    };
    const a = `shard:${r.attempt_id}`;
    const act = (activity[a] ??= {
      'prov:type': `shard:${r.step_kind ?? 'step'}`,
      'prov:startTime': iso(r.timestamp_ms)
    });
    act['prov:endTime'] = iso(r.timestamp_ms);
    wasGeneratedBy[rel('g')] = {
      'prov:entity': e,
      'prov:activity': a,
      'prov:time': iso(r.timestamp_ms)
    };
    if (r.parent_receipt_id) {
      wasDerivedFrom[rel('d')] = {
        'prov:generatedEntity': e,
        'prov:usedEntity': `shard:${r.parent_receipt_id}`
      };
    }
    if (r.node_identity) {
      const node = `shard:node-${r.node_identity}`;
      agent[node] ??= { 'prov:type': 'prov:SoftwareAgent', 'shard:role': 'orchestrator' };
      wasAttributedTo[rel('t')] = { 'prov:entity': e, 'prov:agent': node };
    }
    const c = r.selected_candidate;
    if (c && (r.event_kind === 'dispatched' || r.event_kind === 'completed')) {
      const ag = `shard:candidate-${c.candidate_id}`;
      agent[ag] ??= {
        'prov:type': 'prov:SoftwareAgent',
        'prov:label': c.display_name,
        'shard:supply_tier': c.supply_tier,
        'shard:trust_tier': c.trust_tier
      };
      const key = `${a}|${ag}`;
      if (!Object.values(wasAssociatedWith).some((v) => (v as { key?: string }).key === key)) {
        wasAssociatedWith[rel('w')] = { 'prov:activity': a, 'prov:agent': ag, key };
      }
    }
  }
  for (const v of Object.values(wasAssociatedWith)) delete (v as { key?: string }).key;
  const resultReceipt =
    sorted.find((r) => r.result != null && r.event_kind === 'completed') ??
    sorted.find((r) => r.result != null);
  if (resultReceipt) {
    const art = `shard:artifact-${resultReceipt.execution_id}`;
    entity[art] = {
      'prov:type': 'shard:ResearchBrief',
      'shard:partial': resultReceipt.result?.partial === true
    };
    wasDerivedFrom[rel('d')] = {
      'prov:generatedEntity': art,
      'prov:usedEntity': `shard:${resultReceipt.receipt_id}`
    };
  }
  return {
    prefix: { shard: 'https://shard.network/ns/receipt#', prov: 'http://www.w3.org/ns/prov#' },
    entity,
    activity,
    agent,
    wasGeneratedBy,
    wasDerivedFrom,
    wasAttributedTo,
    wasAssociatedWith
  };
}

/** One OpenTelemetry span (OTLP/JSON-like) with GenAI semantic-convention attributes. */
export interface OtelSpan {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  kind: 'INTERNAL' | 'CLIENT';
  start_time_unix_nano: string;
  end_time_unix_nano: string;
  status: { code: 'OK' | 'ERROR' | 'UNSET'; message?: string };
  attributes: Record<string, string | number | boolean>;
}

const hex = (s: string, len: number) => bytesToHex(sha256(utf8ToBytes(s))).slice(0, len);
const nanos = (ms: number) => `${Math.round(ms)}000000`;

/**
 * Spans of an execution following the OpenTelemetry GenAI semantic conventions: a root
 * `invoke_agent research_brief` span and one `chat {model}` span per attempt (dispatched to
 * completed/failed/orphaned), carrying gen_ai.usage.* tokens and shard.* receipt links.
 */
export function toOtelSpans(receipts: readonly ReceiptLike[]): OtelSpan[] {
  const sorted = sortReceipts(receipts);
  const first = sorted[0];
  if (!first) return [];
  const traceId = first.execution_id
    .replace(/^exec-/, '')
    .replace(/-/g, '')
    .padEnd(32, '0')
    .slice(0, 32);
  const rootSpanId = hex(`${first.execution_id}:root`, 16);
  const last = sorted.at(-1)!;
  const status = executionStatus(sorted);
  const spans: OtelSpan[] = [
    {
      trace_id: traceId,
      span_id: rootSpanId,
      parent_span_id: null,
      name: `invoke_agent ${first.workflow_kind}`,
      kind: 'INTERNAL',
      start_time_unix_nano: nanos(first.timestamp_ms),
      end_time_unix_nano: nanos(last.timestamp_ms),
      status:
        status === 'completed'
          ? { code: 'OK' }
          : status === 'running'
            ? { code: 'UNSET' }
            : { code: 'ERROR', message: status },
      attributes: {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.agent.name': first.workflow_kind ?? 'research_brief',
        'gen_ai.conversation.id': first.execution_id,
        'shard.execution.status': status,
        'shard.receipt.count': sorted.length
      }
    }
  ];
  const attempts = new Map<string, ReceiptLike[]>();
  for (const r of sorted) {
    if (!/:attempt:\d+$/.test(r.attempt_id)) continue;
    const list = attempts.get(r.attempt_id) ?? [];
    list.push(r);
    attempts.set(r.attempt_id, list);
  }
  for (const [attemptId, list] of attempts) {
    const start = list[0]!;
    const end = list.at(-1)!;
    const cand = start.selected_candidate;
    const model = end.model_metadata?.model_id ?? cand?.model_id ?? cand?.display_name ?? 'unknown';
    const attributes: Record<string, string | number | boolean> = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': cand?.kind === 'extractive' ? 'shard.extractive' : 'shard',
      'gen_ai.request.model': String(model),
      'gen_ai.conversation.id': start.execution_id,
      'shard.step_id': start.step_id,
      'shard.attempt_id': attemptId,
      'shard.receipt_id': end.receipt_id
    };
    if (end.event_kind === 'completed') attributes['gen_ai.response.model'] = String(model);
    if (end.input_tokens != null) attributes['gen_ai.usage.input_tokens'] = end.input_tokens;
    if (end.output_tokens != null) attributes['gen_ai.usage.output_tokens'] = end.output_tokens;
    if (cand) {
      attributes['shard.candidate_id'] = cand.candidate_id;
      attributes['shard.supply_tier'] = cand.supply_tier;
      attributes['shard.trust_tier'] = cand.trust_tier;
      if (cand.endpoint) attributes['server.address'] = cand.endpoint;
    }
    const cost = end.actual_cost_usd ?? end.estimated_cost_usd;
    if (cost != null) attributes['shard.cost_usd'] = cost;
    if (end.event_kind !== 'completed')
      attributes['error.type'] = end.failure_reason ?? end.event_kind;
    spans.push({
      trace_id: traceId,
      span_id: hex(attemptId, 16),
      parent_span_id: rootSpanId,
      name: `chat ${model}`,
      kind: cand?.kind === 'remote_oracle' ? 'CLIENT' : 'INTERNAL',
      start_time_unix_nano: nanos(start.timestamp_ms),
      end_time_unix_nano: nanos(end.timestamp_ms),
      status:
        end.event_kind === 'completed'
          ? { code: 'OK' }
          : end.event_kind === 'dispatched'
            ? { code: 'UNSET' }
            : { code: 'ERROR', message: end.failure_reason ?? end.event_kind },
      attributes
    });
  }
  return spans;
}
