/**
 * Double-dip probe: when an oracle runs on this very machine (its /health answers in under
 * LOCAL_ORACLE_RTT_MS), drafting in the browser would compete with it for the same CPU/GPU.
 * The scout then does not draft and chat goes to the local oracle instead. The user can still
 * scout anyway; the decision is always shown.
 */

/** An oracle answering /health faster than this runs on this machine. */
export const LOCAL_ORACLE_RTT_MS = 2;
/** Probes per decision; the fastest counts (the first pays for the connection). */
const PROBES = 5;

export type DoubleDipDecision =
  | { kind: 'draft'; reason: string; rttMs: number | null }
  | { kind: 'local-oracle'; reason: string; rttMs: number; endpoint: string };

/** Pure rule (unit-tested): fastest healthy RTT below the threshold means a local oracle. */
export function decideDoubleDip(probe: {
  endpoint: string;
  rttMs: number | null;
  isHealthy: boolean;
}): DoubleDipDecision {
  if (probe.rttMs === null) {
    return {
      kind: 'draft',
      reason: 'No oracle answered on this device, so this browser can draft.',
      rttMs: null
    };
  }
  if (!probe.isHealthy) {
    return {
      kind: 'draft',
      reason:
        'The oracle that answered has no model ready to serve chat, so this browser can draft.',
      rttMs: probe.rttMs
    };
  }
  if (probe.rttMs < LOCAL_ORACLE_RTT_MS) {
    return {
      kind: 'local-oracle',
      reason: `An oracle runs on this device (/health in ${probe.rttMs.toFixed(2)} ms). Drafting here would compete with it, so chat goes to it directly and this browser does not draft.`,
      rttMs: probe.rttMs,
      endpoint: probe.endpoint
    };
  }
  return {
    kind: 'draft',
    reason: `The oracle is on another machine (/health in ${probe.rttMs.toFixed(1)} ms), so this browser can draft for it.`,
    rttMs: probe.rttMs
  };
}

/**
 * Round-trip time of one fetch: from Resource Timing when the browser exposes it (request sent to
 * first response byte, so service-worker start-up and promise scheduling do not count), else
 * the wall time around the fetch.
 */
function networkRttMs(url: string, wallMs: number): number {
  const entries = performance.getEntriesByName(url, 'resource') as PerformanceResourceTiming[];
  const entry = entries[entries.length - 1];
  if (entry && entry.requestStart > 0 && entry.responseStart >= entry.requestStart) {
    return entry.responseStart - entry.requestStart;
  }
  return wallMs;
}

/** Measures /health at `endpoint` (best of PROBES); never throws. */
export async function probeLocalOracle(
  endpoint: string,
  signal?: AbortSignal
): Promise<DoubleDipDecision> {
  let best: number | null = null;
  let isHealthy = false;
  for (let i = 0; i < PROBES; i++) {
    // A distinct URL per probe so its Resource Timing entry can be found.
    const url = new URL(endpoint, location.href);
    url.searchParams.set('probe', `${Date.now()}-${i}`);
    try {
      const started = performance.now();
      const res = await fetch(url, {
        cache: 'no-store',
        signal: signal ?? AbortSignal.timeout(2000)
      });
      const body = (await res.json()) as { status?: string; ready_for_inference?: boolean };
      const rtt = networkRttMs(url.href, performance.now() - started);
      isHealthy = body.ready_for_inference === true || body.status === 'ok';
      best = best === null ? rtt : Math.min(best, rtt);
    } catch {
      break;
    }
  }
  return decideDoubleDip({ endpoint, rttMs: best, isHealthy });
}
