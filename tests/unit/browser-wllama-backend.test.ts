/**
 * Where the browser scout's wllama runs (workers/scout/browser/wllama-backend.ts): the plan from
 * the user's choice and the WebGPU probe, and the backend read back from llama.cpp's load log,
 * with the log lines llama.cpp prints (the CPU lines recorded from wllama 3.8.1 in Chromium 156;
 * the GPU lines in llama.cpp's format, since no GPU device is reachable here). Also the worker
 * edge's check of the new `wllamaBackend` prepare option.
 */
import { describe, expect, it } from 'vitest';
import {
  ALL_GPU_LAYERS,
  backendFromLog,
  describeBackend,
  planWllamaBackend
} from '../../workers/scout/browser/wllama-backend.js';
import { checkScoutCall } from '../../workers/scout/browser/worker-edge.js';
import type { WebGpuProbe } from '../../workers/scout/browser/webgpu.js';

/** Headless Chromium's adapter with --enable-unsafe-webgpu, as probed there. */
const swiftShader: WebGpuProbe = {
  isAvailable: true,
  adapter: 'google swiftshader',
  hasShaderF16: false,
  features: ['float32-filterable', 'subgroups', 'timestamp-query']
};
const capableGpu: WebGpuProbe = {
  isAvailable: true,
  adapter: 'nvidia ampere',
  hasShaderF16: true,
  features: ['shader-f16', 'subgroups', 'timestamp-query']
};
const noAdapter: WebGpuProbe = {
  isAvailable: false,
  reason: 'WebGPU is present but no GPU adapter is available'
};

const CPU_LOAD_LOG = [
  'load_tensors: loading model tensors, this can take a while... (load_mode = none)',
  'load_tensors:          CPU model buffer size =     6.17 MiB',
  'llama_kv_cache:        CPU KV buffer size =     0.12 MiB'
];
const GPU_LOAD_LOG = [
  'llama_model_load_from_file_impl: using device WebGPU (nvidia ampere) (0000:01:00.0) - 8192 MiB free',
  'load_tensors: offloading output layer to GPU',
  'load_tensors: offloaded 5/5 layers to GPU',
  'load_tensors:   CPU_Mapped model buffer size =     0.50 MiB'
];

describe('planWllamaBackend', () => {
  it.each([
    ['auto', capableGpu, ALL_GPU_LAYERS, null],
    ['cpu', capableGpu, 0, 'you chose the CPU for wllama'],
    ['auto', noAdapter, 0, 'WebGPU is present but no GPU adapter is available'],
    [
      'auto',
      swiftShader,
      0,
      "the WebGPU adapter (google swiftshader) lacks shader-f16, which llama.cpp's WebGPU backend in wllama needs"
    ]
  ] as const)('%s on %o → %d layers', (choice, probe, gpuLayers, reason) => {
    expect(planWllamaBackend(choice, probe)).toEqual({ gpuLayers, reason });
  });

  it('names every missing feature', () => {
    const bare = { ...swiftShader, features: [] };
    expect(planWllamaBackend('auto', bare).reason).toContain('lacks shader-f16 and subgroups');
  });
});

describe('backendFromLog', () => {
  const gpuPlan = { gpuLayers: ALL_GPU_LAYERS, reason: null };

  it('reports WebGPU with the device and the offloaded layers when llama.cpp used the GPU', () => {
    const backend = backendFromLog(GPU_LOAD_LOG, gpuPlan);
    expect(backend).toEqual({
      kind: 'webgpu',
      device: 'WebGPU (nvidia ampere)',
      gpuLayers: '5/5',
      reason: null
    });
    expect(describeBackend(backend)).toBe('WebGPU (nvidia ampere), 5/5 layers');
  });

  it('trusts the device line when the layer count is missing from the log', () => {
    const noCount = GPU_LOAD_LOG.filter((l) => !l.includes('offloaded 5/5'));
    expect(backendFromLog(noCount, gpuPlan)).toEqual({
      kind: 'webgpu',
      device: 'WebGPU (nvidia ampere)',
      gpuLayers: null,
      reason: null
    });
  });

  it('says the GPU was not taken when a GPU load logged no device (what SwiftShader does)', () => {
    expect(backendFromLog(CPU_LOAD_LOG, gpuPlan)).toEqual({
      kind: 'cpu',
      device: null,
      gpuLayers: null,
      reason: 'llama.cpp’s WebGPU backend did not take the adapter (no GPU device in its load log)'
    });
  });

  it('says so when the device was found but no layer went to it', () => {
    const zero = GPU_LOAD_LOG.map((l) => l.replace('5/5', '0/5'));
    expect(backendFromLog(zero, gpuPlan)).toMatchObject({
      kind: 'cpu',
      reason: 'llama.cpp offloaded no layers to WebGPU (nvidia ampere)'
    });
  });

  it('keeps the plan’s reason for a CPU load, whatever the log says', () => {
    const plan = { gpuLayers: 0, reason: 'you chose the CPU for wllama' };
    expect(backendFromLog(GPU_LOAD_LOG, plan)).toEqual({
      kind: 'cpu',
      device: null,
      gpuLayers: null,
      reason: 'you chose the CPU for wllama'
    });
    expect(describeBackend(backendFromLog([], plan))).toBe('CPU (WASM)');
  });
});

describe('worker edge: prepare({ wllamaBackend })', () => {
  const prepare = (extra: Record<string, unknown>) =>
    checkScoutCall('prepare', [{ modelUrl: '/models/draft.gguf', ...extra }]);

  it('accepts auto, cpu and no value', () => {
    expect(() => prepare({ wllamaBackend: 'auto' })).not.toThrow();
    expect(() => prepare({ wllamaBackend: 'cpu' })).not.toThrow();
    expect(() => prepare({ wllamaBackend: null })).not.toThrow();
    expect(() => prepare({})).not.toThrow();
  });

  it('refuses anything else, naming the field', () => {
    expect(() => prepare({ wllamaBackend: 'gpu' })).toThrow(/argument 0\.wllamaBackend/);
    expect(() => prepare({ wllamaBackend: 1 })).toThrow(/ScoutRequestError|wllamaBackend/);
  });
});
