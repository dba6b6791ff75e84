/**
 * The receipt retention setting (SHARD_RECEIPT_RETENTION_DAYS): parsed here, without SQLite, so
 * the oracle's config can validate it before anything opens the store.
 */
import { ReceiptConfigError } from './errors.js';

/** Environment variable: days to keep the receipts of executions that have ended. */
export const RETENTION_ENV = 'SHARD_RECEIPT_RETENTION_DAYS';
/** How often the retention policy runs while the store is open (it also runs at open). */
export const PRUNE_INTERVAL_MS = 60 * 60_000;
/** Longest retention accepted (100 years); anything longer is a typo. */
const MAX_RETENTION_DAYS = 36_500;
export const DAY_MS = 86_400_000;

/**
 * Parses a retention setting in days: unset, empty or 0 = keep forever (null); otherwise a whole
 * number of days. Throws ReceiptConfigError naming `name` for anything else.
 */
export function parseRetentionDays(
  raw: string | undefined,
  name: string = RETENTION_ENV
): number | null {
  const text = raw?.trim() ?? '';
  if (text === '' || text === '0') return null;
  const days = Number(text);
  if (!/^\d+$/.test(text) || days < 1 || days > MAX_RETENTION_DAYS) {
    throw new ReceiptConfigError(
      `${name} must be a whole number of days between 1 and ${MAX_RETENTION_DAYS} (0 or unset keeps receipts forever); got "${raw}"`
    );
  }
  return days;
}
