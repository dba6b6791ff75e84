/**
 * Where wllama runs the draft model: llama.cpp's WebGPU backend (compiled into wllama 3.x) or
 * its WASM CPU path. Pure decisions, so they are tested in Node; wllama-engine.ts applies them.
 *
 * What wllama 3.8 does (read from its source and measured in Chromium 156):
 *  - `loadModel({ n_gpu_layers })`: default 99999 (every layer on the GPU when llama.cpp's WebGPU
 *    backend registers a device); 0 skips WebGPU initialisation altogether.
 *  - The backend asks the adapter for a device with the features `shader-f16` and `subgroups`.
 *    An adapter without them gets no device and the model loads on the CPU without an error;
 *    headless Chromium's SwiftShader adapter (`--enable-unsafe-webgpu`) lacks `shader-f16`.
 *  - wllama reports no backend; llama.cpp's load log does: `using device WebGPU (...)` and
 *    `offloaded N/M layers to GPU` appear only when a GPU device is used.
 */
import type { WebGpuProbe } from './webgpu.js';

/** The user's choice: `auto` uses WebGPU when the adapter can run it; `cpu` never does. */
export type WllamaBackendChoice = 'auto' | 'cpu';

/** WebGPU features llama.cpp's WebGPU backend in wllama 3.8 requests from the adapter. */
export const WLLAMA_WEBGPU_FEATURES = ['shader-f16', 'subgroups'] as const;

/** `n_gpu_layers` that offloads every layer (wllama's own default). */
export const ALL_GPU_LAYERS = 99_999;

/** Where the model actually runs, as the scout reports it. */
export interface WllamaBackend {
  kind: 'webgpu' | 'cpu';
  /** The GPU device llama.cpp used (`WebGPU (<adapter>)`); null on the CPU. */
  device: string | null;
  /** Layers offloaded to the GPU and the model's layer count (`5/5`); null when not logged. */
  gpuLayers: string | null;
  /** Why the model runs on the CPU, in plain words; null on WebGPU. */
  reason: string | null;
}

/** What to ask wllama for: `gpuLayers` for `n_gpu_layers`, and why not the GPU when 0. */
export interface WllamaBackendPlan {
  gpuLayers: number;
  reason: string | null;
}

/** Step 1: decides whether to try WebGPU, from the user's choice and the adapter probe. */
export function planWllamaBackend(
  choice: WllamaBackendChoice,
  probe: WebGpuProbe
): WllamaBackendPlan {
  if (choice === 'cpu') return { gpuLayers: 0, reason: 'you chose the CPU for wllama' };
  if (!probe.isAvailable) return { gpuLayers: 0, reason: probe.reason };
  const missing = WLLAMA_WEBGPU_FEATURES.filter((f) => !probe.features.includes(f));
  if (missing.length > 0) {
    return {
      gpuLayers: 0,
      reason:
        `the WebGPU adapter (${probe.adapter}) lacks ${missing.join(' and ')}, which ` +
        `llama.cpp's WebGPU backend in wllama needs`
    };
  }
  return { gpuLayers: ALL_GPU_LAYERS, reason: null };
}

const USING_DEVICE = /using device (\S+) \(([^)]*)\)/;
const OFFLOADED = /offloaded (\d+)\/(\d+) layers to GPU/;

/**
 * Step 2: reads the backend llama.cpp actually used from its load log. `plan` is what was asked
 * for: a GPU plan whose log names no GPU device ran on the CPU, and says so.
 */
export function backendFromLog(lines: readonly string[], plan: WllamaBackendPlan): WllamaBackend {
  if (plan.gpuLayers === 0) {
    return {
      kind: 'cpu',
      device: null,
      gpuLayers: null,
      reason: plan.reason ?? 'WebGPU not tried'
    };
  }
  let device: string | null = null;
  let gpuLayers: string | null = null;
  for (const line of lines) {
    const used = USING_DEVICE.exec(line);
    if (used) device = `${used[1]} (${used[2]})`;
    const offloaded = OFFLOADED.exec(line);
    if (offloaded) gpuLayers = `${offloaded[1]}/${offloaded[2]}`;
  }
  // The device line decides; the layer count only rules the GPU out when it is 0 of N.
  const isOnGpu = device !== null && !gpuLayers?.startsWith('0/');
  if (isOnGpu) return { kind: 'webgpu', device, gpuLayers, reason: null };
  return {
    kind: 'cpu',
    device: null,
    gpuLayers,
    reason: device
      ? `llama.cpp offloaded no layers to ${device}`
      : 'llama.cpp’s WebGPU backend did not take the adapter (no GPU device in its load log)'
  };
}

/** One line for the scout's status and engine name, e.g. `WebGPU (…), 5/5 layers` or `CPU (WASM)`. */
export function describeBackend(backend: WllamaBackend): string {
  if (backend.kind === 'cpu') return 'CPU (WASM)';
  return `${backend.device ?? 'WebGPU'}${backend.gpuLayers ? `, ${backend.gpuLayers} layers` : ''}`;
}
