/**
 * Per-engine caches that outlive one generation: a speculation governor per draft source (its
 * measurements are what let it decide) and a compiled grammar per JSON schema (compiling one
 * costs far more than a decode step).
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

/** One governor per draft source name, least recently used dropped beyond MAX_GOVERNORS. */
export class GovernorCache {
  private readonly governors = new Map<string, SpeculationGovernor>();

  constructor(private readonly options: GovernorOptions | undefined) {}

  /** Called when a generation starts with `source`: its governor, created on first use. */
  governorFor(source: DraftSource): SpeculationGovernor {
    let g = this.governors.get(source.name);
    if (g) {
      this.governors.delete(source.name); // re-insert: most recently used last
    } else {
      g = new SpeculationGovernor(this.options);
      if (this.governors.size >= MAX_GOVERNORS)
        this.governors.delete(this.governors.keys().next().value!);
    }
    this.governors.set(source.name, g);
    return g;
  }
}

/** Compiled JSON-schema grammars keyed by the schema's JSON text; a failed compile is not kept. */
export class GrammarCache {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly llama: Llama) {}

  /**
   * Called when a jsonSchema request starts. Rejects with InvalidJsonSchemaError (cause kept)
   * when node-llama-cpp cannot turn the schema into a grammar.
   */
  grammarFor(schema: object): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      g = this.llama.createGrammarForJsonSchema(schema as never).catch((err: unknown) => {
        this.grammars.delete(key);
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
