/**
 * The scout's counts, defined once (the project glossary): a token is **drafted** when an oracle
 * verified it, **accepted** when the verify result kept it, and the **acceptance rate** is
 * accepted / drafted. Tokens **sent** include those sent ahead that no oracle verified (the text
 * moved on, or the session ended first); they are shown apart so every shown number agrees.
 */
export interface ScoutCounts {
  /** Draft tokens this browser sent. */
  sent: number;
  /** Draft tokens an oracle verified (its verify results' `drafted`). */
  drafted: number;
  /** Drafted tokens the oracle kept. */
  accepted: number;
  /** Sent but never verified. */
  unverified: number;
  /** accepted / drafted, or null before anything was verified. */
  acceptanceRate: number | null;
}

/**
 * Counts from the worker's raw stats (its `drafted` is what was sent, its `verified` what the
 * oracles verified); never shows more accepted than drafted.
 */
export function scoutCounts(
  stats: { drafted: number; verified: number; accepted: number } | null | undefined
): ScoutCounts {
  const sent = stats?.drafted ?? 0;
  const drafted = stats?.verified ?? 0;
  const accepted = Math.min(stats?.accepted ?? 0, drafted);
  return {
    sent,
    drafted,
    accepted,
    unverified: Math.max(0, sent - drafted),
    acceptanceRate: drafted > 0 ? accepted / drafted : null
  };
}

/** A rate as the page shows it: `70.2%`, or `—` when there is none yet. */
export function formatRate(rate: number | null): string {
  return rate === null ? '—' : `${(rate * 100).toFixed(1)}%`;
}
