/**
 * Random ids for tabs, conversations and idempotency keys. `crypto.randomUUID` exists only in a
 * secure context (HTTPS or localhost); over plain http under a LAN name calling it throws and the
 * page would never start, so this falls back to `crypto.getRandomValues` (available everywhere)
 * formatted as the same RFC 9562 version 4 UUID.
 */
export function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10xx
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
