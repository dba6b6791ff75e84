/**
 * Per-engine caches that outlive one generation: a speculation governor per draft source (its
 * measurements are what let it decide) and a compiled grammar per JSON schema (compiling one
 * costs far more than a decode step). Both are bounded least-recently-used maps: their keys come
 * from requests (scout names, client schemas), so an unbounded map grows with traffic.
 */
import type { Llama, LlamaGrammar } from 'node-llama-cpp';
import { InvalidJsonSchemaError } from './errors.js';
import { SpeculationGovernor, type GovernorOptions } from './governor.js';
import type { DraftSource } from './index.js';

/**
 * Governors kept (one per draft source name); the least recently used is dropped beyond this.
 * Bounds memory when scouts come and go (each remote scout is a source with its own name).
 */
const MAX_GOVERNORS = 64;

/**
 * Compiled grammars kept; the least recently used is dropped beyond this. A compiled JSON-schema
 * grammar held ~1.7 MB of native memory (issue 10: RSS 307 -> 920 MB after 350 distinct
 * schemas); 32 covers the schemas of a handful of steady clients (tool sets, response formats)
 * in ~55 MB, and a dropped one only costs a recompile.
 */
export const MAX_GRAMMARS = 32;

/** A Map that keeps at most `capacity` entries, dropping the least recently used. */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key); // re-insert: most recently used last
    this.entries.set(key, value);
    return value;
  }

  /** Stores `value` as the most recently used, dropping the least recently used beyond capacity. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity)
      this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}

/** One governor per draft source name, least recently used dropped beyond MAX_GOVERNORS. */
export class GovernorCache {
  private readonly governors = new LruMap<string, SpeculationGovernor>(MAX_GOVERNORS);

  constructor(private readonly options: GovernorOptions | undefined) {}

  /** Called when a generation starts with `source`: its governor, created on first use. */
  governorFor(source: DraftSource): SpeculationGovernor {
    let g = this.governors.get(source.name);
    if (!g) {
      g = new SpeculationGovernor(this.options);
      this.governors.set(source.name, g);
    }
    return g;
  }
}

/** What GrammarCache needs of node-llama-cpp's Llama (a fake one in unit tests). */
export type GrammarCompiler = Pick<Llama, 'createGrammarForJsonSchema'>;

/**
 * Compiled JSON-schema grammars keyed by the schema's JSON text, at most MAX_GRAMMARS (least
 * recently used dropped: node-llama-cpp frees a grammar's native memory once nothing references
 * it, and a running generation keeps its own reference); a failed compile is not kept.
 */
export class GrammarCache {
  private readonly grammars = new LruMap<string, Promise<LlamaGrammar>>(MAX_GRAMMARS);

  constructor(private readonly llama: GrammarCompiler) {}

  /** Grammars held now (at most MAX_GRAMMARS). */
  get size(): number {
    return this.grammars.size;
  }

  /**
   * Called when a jsonSchema request starts. Rejects with InvalidJsonSchemaError (cause kept)
   * when node-llama-cpp cannot turn the schema into a grammar.
   */
  grammarFor(schema: object): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      g = this.llama.createGrammarForJsonSchema(schema as never).catch((err: unknown) => {
        if (this.grammars.get(key) === g) this.grammars.delete(key);
        throw new InvalidJsonSchemaError(
          `jsonSchema is not supported: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err }
        );
      });
      this.grammars.set(key, g);
    }
    return g;
  }
}
