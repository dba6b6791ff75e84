/**
 * Loads a GGUF model with llama.cpp (CPU by default, a GPU on request; explicit threads) and creates one context
 * with `sequences` sequences. Shared by the target engine and the local draft-model source.
 * Before loading, the file is checked against its expected sha256 (a generated model's manifest,
 * or `expectedSha256`): llama.cpp validates the GGUF structure but not the tensor data, so
 * corrupted weights would otherwise load and serve garbage.
 */
import {
  getLlama,
  LlamaLogLevel,
  type Llama,
  type LlamaContext,
  type LlamaModel
} from 'node-llama-cpp';
import { verifyModelFile } from '../models/integrity.js';
import { ModelLoadError } from './errors.js';
import type { ComputeBackend, GpuChoice } from './index.js';

export interface LoadModelOptions {
  modelPath: string;
  /** llama.cpp threads; required (default thread counts collapse decoding on small machines). */
  threads: number;
  /** Tokens per sequence. */
  contextSize: number;
  /** When true, the context is no larger than the model's trained context. Default false. */
  isCappedAtTrainedContext?: boolean;
  sequences: number;
  batchSize?: number;
  /** Default `cpu`. See TargetEngineOptions.gpu. */
  gpu?: GpuChoice;
  /**
   * sha256 (hex) the file must have. Default: the hash a generated-models manifest beside the
   * file lists for it, else no check. null skips the check.
   */
  expectedSha256?: string | null;
}

export interface LoadedModel {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  /** What llama.cpp runs on: `cpu`, or the GPU backend `auto` or a named choice gave. */
  backend: ComputeBackend;
}

/** node-llama-cpp's `gpu` setting for a choice (`cpu` is its `false`). */
function llamaGpuSetting(choice: GpuChoice): false | 'auto' | 'cuda' | 'vulkan' | 'metal' {
  return choice === 'cpu' ? false : choice;
}

/** Starts llama.cpp on the chosen backend; a named GPU backend that is not usable says so. */
async function getBackend(choice: GpuChoice, threads: number): Promise<Llama> {
  try {
    return await getLlama({
      gpu: llamaGpuSetting(choice),
      build: 'never',
      maxThreads: threads,
      logLevel: LlamaLogLevel.error
    });
  } catch (err) {
    if (choice === 'cpu' || choice === 'auto') throw err;
    throw new Error(
      `llama.cpp's ${choice} backend is not usable on this machine (no compatible prebuilt ` +
        `binary or driver); start with --gpu auto or --gpu cpu`,
      { cause: err }
    );
  }
}

/** Throws ModelLoadError (cause kept) and frees whatever was loaded when any step fails. */
export async function loadModel(options: LoadModelOptions): Promise<LoadedModel> {
  let llama: Llama | undefined;
  let model: LlamaModel | undefined;
  try {
    if (options.expectedSha256 !== null)
      await verifyModelFile({ path: options.modelPath, expectedSha256: options.expectedSha256 });
    llama = await getBackend(options.gpu ?? 'cpu', options.threads);
    model = await llama.loadModel({ modelPath: options.modelPath });
    const trained = model.trainContextSize;
    const contextSize =
      options.isCappedAtTrainedContext && trained > 0
        ? Math.min(options.contextSize, trained)
        : options.contextSize;
    const context = await model.createContext({
      contextSize,
      sequences: options.sequences,
      threads: options.threads,
      batchSize: options.batchSize
    });
    return { llama, model, context, backend: llama.gpu === false ? 'cpu' : llama.gpu };
  } catch (err) {
    await model?.dispose().catch(() => undefined);
    await llama?.dispose().catch(() => undefined);
    throw new ModelLoadError(options.modelPath, { cause: err });
  }
}
