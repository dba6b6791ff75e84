/**
 * How the provenance explorer names and lays out an execution's steps (pure, framework-free):
 * step labels that name the source a step summarized, a timeline of steps with durations, and
 * graph positions that put a failed attempt and its fallback on a branch beside the main path.
 */
import type { ExecutionReceipt, ProvenanceGraph } from '$lib/protocol/receipts.js';

/** Receipts in chain order (seq), whatever their timestamps or arrival order. */
export function bySeq<T extends { seq: number }>(receipts: readonly T[]): T[] {
  return [...receipts].sort((a, b) => a.seq - b.seq);
}

const SUMMARIZE_PREFIX = 'summarize-';

/**
 * Source id -> title: titles the page was given (`known`, e.g. from its own form) first, then
 * those in a receipt's result (`source_summaries[].title`).
 */
export function sourceTitles(
  receipts: readonly ExecutionReceipt[],
  known: Record<string, string> = {}
): Record<string, string> {
  const titles: Record<string, string> = {};
  for (const r of receipts) {
    for (const s of r.result?.source_summaries ?? []) if (s.title) titles[s.source_id] = s.title;
  }
  for (const [id, title] of Object.entries(known)) if (title.trim()) titles[id] = title.trim();
  return titles;
}

/** A person's name for a step: `Summarize “Coffee and the heart”` rather than its kind. */
export function stepLabel(stepId: string, titles: Record<string, string> = {}): string {
  if (stepId === 'workflow') return 'Workflow';
  if (stepId === 'planner') return 'Plan';
  if (stepId === 'synthesize-brief') return 'Synthesize the brief';
  if (stepId === 'result') return 'Result';
  if (stepId.startsWith(SUMMARIZE_PREFIX)) {
    const id = stepId.slice(SUMMARIZE_PREFIX.length);
    return `Summarize “${titles[id] ?? id}”`;
  }
  return stepId;
}

const EVENT_WORDS: Record<ExecutionReceipt['event_kind'], string> = {
  planned: 'planned',
  candidate_ranked: 'ranked',
  dispatched: 'dispatched',
  completed: 'completed',
  failed: 'failed',
  fallback_applied: 'fallback',
  orphaned: 'orphaned'
};

/** Label of one receipt in the graph: `#seq step · event`. */
export function receiptLabel(
  r: Pick<ExecutionReceipt, 'seq' | 'step_id' | 'event_kind'>,
  titles: Record<string, string> = {}
): string {
  return `#${r.seq} ${stepLabel(r.step_id, titles)} · ${EVENT_WORDS[r.event_kind]}`;
}

/** One step on the timeline. */
export interface TimelineStep {
  step_id: string;
  label: string;
  start_ms: number;
  end_ms: number;
  duration_ms: number;
  /** Attempts dispatched (more than one: a fallback ran). */
  attempts: number;
  /** The step's last event. */
  outcome: ExecutionReceipt['event_kind'];
  hasFallback: boolean;
  /** Position and length on a 0-100 scale of the whole execution. */
  offset_pct: number;
  width_pct: number;
}

/** Steps in the order they started, with their durations (first to last receipt of the step). */
export function stepTimeline(
  receipts: readonly ExecutionReceipt[],
  titles: Record<string, string> = {}
): TimelineStep[] {
  const ordered = bySeq(receipts);
  if (ordered.length === 0) return [];
  const t0 = Math.min(...ordered.map((r) => r.timestamp_ms));
  const t1 = Math.max(...ordered.map((r) => r.timestamp_ms));
  const span = Math.max(1, t1 - t0);
  const steps = new Map<string, ExecutionReceipt[]>();
  for (const r of ordered) {
    const list = steps.get(r.step_id);
    if (list) list.push(r);
    else steps.set(r.step_id, [r]);
  }
  return [...steps].map(([stepId, list]) => {
    const start = Math.min(...list.map((r) => r.timestamp_ms));
    const end = Math.max(...list.map((r) => r.timestamp_ms));
    return {
      step_id: stepId,
      label: stepLabel(stepId, titles),
      start_ms: start,
      end_ms: end,
      duration_ms: end - start,
      attempts: list.filter((r) => r.event_kind === 'dispatched').length,
      outcome: list.at(-1)!.event_kind,
      hasFallback: list.some((r) => r.event_kind === 'fallback_applied'),
      offset_pct: ((start - t0) / span) * 100,
      width_pct: ((end - start) / span) * 100
    };
  });
}

/** Vertical distance between receipts and horizontal distance between branches, model units. */
export const GRAPH_ROW = 40;
export const GRAPH_COLUMN = 80;

/**
 * Positions for the graph: one row per receipt in chain order; the main path in column 0, and
 * every receipt of a failed attempt that a fallback recovered (its dispatch, its failure, the
 * fallback_applied) in column 1, so each fallback reads as a branch off the main path and back.
 */
export function graphPositions(graph: ProvenanceGraph): Record<string, { x: number; y: number }> {
  const failedAttempts = new Set(
    graph.nodes
      .filter((n) => n.event_kind === 'failed' && n.branch === 'fallback')
      .map((n) => n.attempt_id)
  );
  const positions: Record<string, { x: number; y: number }> = {};
  bySeq(graph.nodes).forEach((n, row) => {
    const isBranch = n.event_kind === 'fallback_applied' || failedAttempts.has(n.attempt_id);
    positions[n.receipt_id] = { x: isBranch ? GRAPH_COLUMN : 0, y: row * GRAPH_ROW };
  });
  return positions;
}

/** Milliseconds as a person reads them: `0 ms`, `850 ms`, `2.4 s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
