/**
 * Length of the common prefix of two token lists. Used wherever a llama.cpp sequence's KV cache
 * is reused: the cached tokens are valid up to the first position where they differ.
 */
export function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
