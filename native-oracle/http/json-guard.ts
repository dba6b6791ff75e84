/**
 * A shape guard for parsed JSON request bodies, applied at the edge before schema validation:
 * a body nested deeper than MAX_JSON_DEPTH is refused with a 400 naming the field, instead of
 * reaching recursive code (schema validation, JSON-schema-to-grammar compilation) that would
 * exhaust the stack and answer 500 (issue #10, finding 13).
 */
import { BadRequestError } from './errors.js';

/**
 * Deepest nesting of objects and arrays accepted in a request body. Real requests stay far
 * below it: an OpenAI chat body with a JSON schema for structured output is typically under 15
 * levels, tool parameter schemas under 20. 64 leaves room for unusual but honest schemas, while
 * recursive validators and the grammar compiler use a stack frame or more per level, far from
 * exhausting the stack at this depth.
 */
export const MAX_JSON_DEPTH = 64;

/** Path segments shown in the error before it is cut short (the path of a deep body is long). */
const MAX_PATH_SEGMENTS_SHOWN = 6;

/**
 * Throws BadRequestError (400, `param` = the top-level field) when `value` nests objects or
 * arrays deeper than `maxDepth` (default MAX_JSON_DEPTH); returns otherwise. Iterative, so the
 * check itself cannot overflow the stack whatever the depth.
 */
export function checkJsonDepth(value: unknown, maxDepth: number = MAX_JSON_DEPTH): void {
  interface Frame {
    node: unknown;
    depth: number;
    key: string;
    parent: Frame | null;
  }
  const stack: Frame[] = [{ node: value, depth: 0, key: '', parent: null }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { node, depth } = frame;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > maxDepth) throw tooDeep(frame, maxDepth);
    const entries = Array.isArray(node) ? node.entries() : Object.entries(node);
    for (const [key, child] of entries) {
      if (child !== null && typeof child === 'object')
        stack.push({ node: child, depth: depth + 1, key: String(key), parent: frame });
    }
  }

  function tooDeep(frame: Frame, limit: number): BadRequestError {
    const path: string[] = [];
    for (let f: Frame | null = frame; f && f.parent; f = f.parent) path.unshift(f.key);
    const shown = path.slice(0, MAX_PATH_SEGMENTS_SHOWN).join('.');
    const field =
      shown === '' ? 'body' : `${shown}${path.length > MAX_PATH_SEGMENTS_SHOWN ? '…' : ''}`;
    return new BadRequestError(
      `invalid request: ${field} is nested more than ${limit} levels deep; this server accepts JSON bodies nested at most ${limit} levels`,
      'invalid_request',
      path[0] ?? null
    );
  }
}
