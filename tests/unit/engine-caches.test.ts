/**
 * The engine's per-engine caches (native-oracle/engine/caches.ts) stay bounded: the compiled
 * grammar cache keeps at most MAX_GRAMMARS schemas however many distinct ones arrive (issue 10:
 * an unbounded one grew RSS by ~1.7 MB per schema), drops the least recently used, reuses a
 * cached compile, and does not keep a failed one. A fake compiler stands in for llama.cpp.
 */
import { describe, expect, it } from 'vitest';
import {
  GrammarCache,
  LruMap,
  MAX_GRAMMARS,
  type GrammarCompiler
} from '../../native-oracle/engine/caches.js';
import { InvalidJsonSchemaError } from '../../native-oracle/engine/errors.js';

/** Counts compiles; a schema with `bad: true` fails to compile. */
function fakeCompiler() {
  const compiled: string[] = [];
  const compiler = {
    createGrammarForJsonSchema: async (schema: { bad?: boolean }) => {
      compiled.push(JSON.stringify(schema));
      if (schema.bad) throw new Error('unsupported keyword');
      return { schema };
    }
  } as unknown as GrammarCompiler;
  return { compiler, compiled };
}

const schema = (i: number) => ({ type: 'object', properties: { [`f${i}`]: { type: 'string' } } });

describe('grammar cache', () => {
  it(`holds at most ${MAX_GRAMMARS} grammars after many distinct schemas`, async () => {
    const { compiler, compiled } = fakeCompiler();
    const cache = new GrammarCache(compiler);
    for (let i = 0; i < 350; i++) {
      await cache.grammarFor(schema(i));
      expect(cache.size).toBeLessThanOrEqual(MAX_GRAMMARS);
    }
    expect(cache.size).toBe(MAX_GRAMMARS);
    expect(compiled).toHaveLength(350);
  });

  it('reuses a cached compile and drops the least recently used one', async () => {
    const { compiler, compiled } = fakeCompiler();
    const cache = new GrammarCache(compiler);
    const first = await cache.grammarFor(schema(0));
    for (let i = 1; i < MAX_GRAMMARS; i++) await cache.grammarFor(schema(i));
    expect(await cache.grammarFor(schema(0))).toBe(first); // a hit: now the most recent
    await cache.grammarFor(schema(MAX_GRAMMARS)); // evicts schema(1), the least recent
    expect(compiled).toHaveLength(MAX_GRAMMARS + 1);
    expect(await cache.grammarFor(schema(0))).toBe(first);
    await cache.grammarFor(schema(1));
    expect(compiled).toHaveLength(MAX_GRAMMARS + 2); // schema(1) was compiled again
  });

  it('does not keep a failed compile', async () => {
    const { compiler, compiled } = fakeCompiler();
    const cache = new GrammarCache(compiler);
    await expect(cache.grammarFor({ bad: true })).rejects.toThrow(InvalidJsonSchemaError);
    expect(cache.size).toBe(0);
    await expect(cache.grammarFor({ bad: true })).rejects.toThrow(/unsupported keyword/);
    expect(compiled).toHaveLength(2);
  });
});

describe('LRU map', () => {
  it('keeps the most recently used entries within capacity', () => {
    const lru = new LruMap<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1);
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.size).toBe(2);
  });
});
