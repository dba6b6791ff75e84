/**
 * Shared fast-check arbitraries of the fuzz suites (issue #10): arbitrary JSON values, near-valid
 * mutations of a valid message (one field turned into a wrong type, a huge/negative number,
 * odd unicode, a deeply nested value, or an unknown field added), raw garbage bytes and odd path
 * segments. Every suite is seeded; `SHARD_FUZZ_RUNS` (a positive number, default 1) multiplies
 * each property's run count for a longer local or nightly run.
 */
import fc from 'fast-check';

/** Multiplier of every fuzz property's numRuns, from SHARD_FUZZ_RUNS (default 1). */
export const FUZZ_RUNS_MULTIPLIER = (() => {
  const raw = Number(process.env.SHARD_FUZZ_RUNS ?? '1');
  return Number.isFinite(raw) && raw > 0 ? raw : 1;
})();

/** `runs` scaled by SHARD_FUZZ_RUNS (at least 1). */
export function fuzzRuns(runs: number): number {
  return Math.max(1, Math.round(runs * FUZZ_RUNS_MULTIPLIER));
}

/** Any JSON value (objects, arrays, numbers, odd strings), bounded in size. */
export const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });

/** A string of odd unicode: lone surrogates, control characters, RTL marks, emoji, NUL. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    '\u0000',
    '\ud800',
    '\udfff',
    '\u202e\u202d',
    '\ufeff',
    '🧨'.repeat(50),
    'a'.repeat(20_000),
    '__proto__',
    'constructor',
    '../../etc/passwd',
    '%00',
    '${x}',
    '<script>'
  )
);

/** A value nested `depth` levels (arrays or objects). */
function nested(depth: number, isArray: boolean): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = isArray ? [v] : { a: v };
  return v;
}

/** A value that is wrong in some way for almost any field. */
export const badValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    -1e9,
    1e308,
    -1e308,
    2 ** 53 + 1,
    0.5,
    -0,
    [],
    {},
    [null],
    { '': '' }
  ),
  fc.integer({ min: 2, max: 200 }).chain((d) => fc.boolean().map((isArray) => nested(d, isArray))),
  oddString,
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 })
);

type Path = Array<string | number>;

/** Every path into `value` (objects' keys and arrays' indexes), the root excluded. */
export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (Array.isArray(value))
    return value.flatMap((v, i) => [[...prefix, i], ...pathsOf(v, [...prefix, i])]);
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => [
      [...prefix, k],
      ...pathsOf(v, [...prefix, k])
    ]);
  return [];
}

/** Paths of the objects inside `value` (the root included), where a field can be added. */
function objectPathsOf(value: unknown): Path[] {
  const all: Path[] = [[], ...pathsOf(value)];
  return all.filter((p) => {
    const v = getAt(value, p);
    return !!v && typeof v === 'object' && !Array.isArray(v);
  });
}

function getAt(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], value);
}

function setAt(value: unknown, path: Path, next: unknown): unknown {
  const copy = structuredClone(value);
  const parent = getAt(copy, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = next;
  return copy;
}

/** One mutation of a valid message; `describe` names it for a failure report. */
export interface Mutation {
  describe: string;
  value: unknown;
}

/** `valid` with one unknown field added to one of its objects. */
function unknownFieldOf(valid: unknown, objects: Path[]): fc.Arbitrary<Mutation> {
  return fc
    .tuple(
      fc.constantFrom(...objects),
      fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'zz_x')),
      fc.jsonValue({ maxDepth: 1 })
    )
    .filter(([p, k]) => {
      const target = getAt(valid, p) as Record<string, unknown>;
      return !Object.prototype.hasOwnProperty.call(target, k);
    })
    .map(([p, k, v]) => {
      const copy = structuredClone(valid);
      const target = getAt(copy, p) as Record<string, unknown>;
      Object.defineProperty(target, k, { value: v, enumerable: true, writable: true });
      return { describe: `add ${[...p, k].join('.')}`, value: copy };
    });
}

/**
 * Near-valid variants of `valid`: one field (at any depth) replaced by a bad value, or an unknown
 * field added to one of its objects, or one field removed. The result always differs from `valid`.
 */
export function nearValid(valid: unknown): fc.Arbitrary<Mutation> {
  const paths = pathsOf(valid);
  const objects = objectPathsOf(valid);
  const unknownField = unknownFieldOf(valid, objects);
  if (paths.length === 0) return unknownField;
  const replace = fc
    .tuple(fc.constantFrom(...paths), badValue)
    .filter(([p, v]) => JSON.stringify(getAt(valid, p)) !== JSON.stringify(v))
    .map(([p, v]) => ({
      describe: `set ${p.join('.')} = ${JSON.stringify(v)?.slice(0, 80)}`,
      value: setAt(valid, p, v)
    }));
  const remove = fc.constantFrom(...paths).map((p) => {
    const copy = structuredClone(valid);
    const parent = getAt(copy, p.slice(0, -1)) as Record<string | number, unknown>;
    if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
    else delete parent[p[p.length - 1]!];
    return { describe: `remove ${p.join('.')}`, value: copy };
  });
  return fc.oneof(
    { weight: 6, arbitrary: replace },
    { weight: 2, arbitrary: unknownField },
    { weight: 1, arbitrary: remove }
  );
}

/** A raw request body and the content type it is sent with (garbage, wrong or missing types). */
export interface RawBody {
  body: Uint8Array;
  contentType: string | null;
}

export const rawBody: fc.Arbitrary<RawBody> = fc.record({
  body: fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .constantFrom(
        '',
        '{',
        '{"a":',
        '[1,2',
        'null',
        '"str"',
        '1e999',
        '{"max_tokens":1e999}',
        '\ufeff{}',
        '{"__proto__":{"polluted":1}}',
        '{"a":1,"a":2}',
        '['.repeat(5000) + ']'.repeat(5000),
        '{"a":'.repeat(100) + '1' + '}'.repeat(100)
      )
      .map((s) => new TextEncoder().encode(s))
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/vnd.api+json',
    'APPLICATION/JSON',
    '',
    null
  )
});

/** One odd path segment: percent-encoding (valid and broken), dots, very long, unicode. */
export const oddSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '%2E%2E%2F',
    '..%2f..%2fetc%2fpasswd',
    '%',
    '%zz',
    '%c0%af',
    '%ff%fe',
    '%00',
    '%F0%9F%A7%A8',
    'a'.repeat(5000),
    'x'.repeat(20_000),
    '%20',
    '~',
    '%3Cscript%3E',
    'exec-00000000000000000000000000000000',
    'cs-' + '0'.repeat(32),
    'target.gguf',
    'draft.gguf',
    '.gguf',
    'models.json',
    '0'.repeat(64),
    'F'.repeat(64)
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map((s) => encodeURIComponent(s)),
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,40}$/)
);
