/**
 * Double-dip probe: when an oracle runs on this very machine (the page was served from a loopback
 * address, or its /health answers in under LOCAL_ORACLE_RTT_MS), drafting in the browser would
 * compete with it for the same CPU/GPU, so the page holds Start back until the user chooses to
 * scout anyway (one click on the Start card; remembered). The decision and its wording follow
 * the real state: describeDoubleDip never says "does not draft" while the browser scouts.
 */

/** An oracle answering /health faster than this runs on this machine. */
export const LOCAL_ORACLE_RTT_MS = 2;
/** Probes per decision; the fastest counts (the first pays for the connection). */
const PROBES = 5;

export type DoubleDipDecision =
  | { kind: 'draft'; reason: string; rttMs: number | null }
  | { kind: 'local-oracle'; reason: string; rttMs: number; endpoint: string };

/** Host names that always mean "this machine". */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\./.test(h);
}

/**
 * Pure rule (unit-tested): a healthy oracle at a loopback address, or with its fastest RTT below
 * the threshold, is on this device. `isLoopback` defaults to false (timing alone decides).
 */
export function decideDoubleDip(probe: {
  endpoint: string;
  rttMs: number | null;
  isHealthy: boolean;
  isLoopback?: boolean;
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
  if (probe.isLoopback || probe.rttMs < LOCAL_ORACLE_RTT_MS) {
    const how = probe.isLoopback
      ? 'this page comes from a loopback address'
      : `/health answered in ${probe.rttMs.toFixed(2)} ms`;
    return {
      kind: 'local-oracle',
      reason: `The oracle runs on this device (${how}). Drafting here shares its processor with the oracle, which may slow both.`,
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

/**
 * Measures /health at `endpoint` (best of PROBES) with `fetcher` (the app passes its keyed
 * `apiFetch`; this module stays free of app state so its rules test in plain Node); never throws.
 */
export async function probeLocalOracle(
  endpoint: string,
  fetcher: (url: string, init?: RequestInit) => Promise<Response>,
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
      const res = await fetcher(url.href, {
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
  const isLoopback = isLoopbackHost(new URL(endpoint, location.href).hostname);
  return decideDoubleDip({ endpoint, rttMs: best, isHealthy, isLoopback });
}

/** What the Start card says about the decision, for the state the scout is really in. */
export function describeDoubleDip(
  decision: DoubleDipDecision,
  state: { isScoutingAnyway: boolean; isScouting: boolean }
): { title: string; text: string } {
  if (decision.kind === 'draft') return { title: 'This browser can draft', text: decision.reason };
  if (state.isScouting)
    return {
      title: 'Scouting on the oracle’s device',
      text: `${decision.reason} You chose to scout anyway, so this browser is drafting for it now.`
    };
  if (state.isScoutingAnyway)
    return {
      title: 'Oracle on this device',
      text: `${decision.reason} You chose to scout anyway: Start drafts here.`
    };
  return {
    title: 'Oracle on this device',
    text: `${decision.reason} Until you choose otherwise this browser does not draft; chat goes to that oracle directly.`
  };
}
