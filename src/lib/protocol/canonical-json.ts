/**
 * Canonical JSON (RFC 8785, JSON Canonicalization Scheme) for hashing and signing receipts.
 *
 * Rules implemented (RFC 8785 §3.2):
 * - object members sorted by their names compared as UTF-16 code-unit sequences;
 * - no whitespace; strings serialised as ECMAScript `JSON.stringify` does (§3.2.2.2);
 * - numbers serialised with the ECMAScript Number-to-String algorithm (§3.2.2.3), which is
 *   what `JSON.stringify` produces for finite numbers; NaN and ±Infinity are rejected;
 * - members whose value is `undefined` are omitted (as in JSON); `undefined` in arrays is an error.
 *
 * Framework-free: runs unchanged in the browser and in Node.
 */

/** Thrown when a value has no JSON representation (non-finite number, function, bigint, ...). */
export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/** Serialises `value` to its RFC 8785 canonical form. Throws CanonicalJsonError. */
export function canonicalize(value: unknown): string {
  const out: string[] = [];
  write(value, out, '$');
  return out.join('');
}

const encoder = new TextEncoder();

/** The UTF-8 bytes of `canonicalize(value)`: what receipt hashes and signatures are computed on. */
export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value));
}

function compareUtf16(a: string, b: string): number {
  // JavaScript string comparison is by UTF-16 code units, exactly what RFC 8785 §3.2.3 asks.
  return a < b ? -1 : a > b ? 1 : 0;
}

function write(value: unknown, out: string[], path: string): void {
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      if (!Number.isFinite(value))
        throw new CanonicalJsonError(`${path}: non-finite number ${value}`);
      // -0 serialises as 0 (ES Number::toString), as RFC 8785 requires.
      out.push(JSON.stringify(value));
      return;
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[');
        value.forEach((item, i) => {
          if (i > 0) out.push(',');
          if (item === undefined) throw new CanonicalJsonError(`${path}[${i}]: undefined in array`);
          write(item, out, `${path}[${i}]`);
        });
        out.push(']');
        return;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort(compareUtf16);
      out.push('{');
      keys.forEach((k, i) => {
        if (i > 0) out.push(',');
        out.push(JSON.stringify(k), ':');
        write(obj[k], out, `${path}.${k}`);
      });
      out.push('}');
      return;
    }
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} has no JSON representation`);
  }
}
