/**
 * The engine's compute backend choice (`--gpu`): `cpu` runs on the CPU and says so; a named GPU
 * backend either runs there or fails with a plain-words ModelLoadError naming it (never a silent
 * CPU fallback); `auto` runs wherever node-llama-cpp finds usable and reports which.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { ensureTestModels } from '../helpers/models.js';

let targetPath = '';

beforeAll(async () => {
  targetPath = (await ensureTestModels()).targetPath;
});

const engines: TargetEngine[] = [];
afterAll(async () => {
  for (const e of engines) await e.dispose();
});

describe('engine compute backend', () => {
  it('gpu "cpu" runs on the CPU and reports backend cpu', async () => {
    const engine = await createTargetEngine({ modelPath: targetPath, threads: 1, gpu: 'cpu' });
    engines.push(engine);
    expect(engine.backend).toBe('cpu');
  });

  it('gpu "auto" reports the backend it found, and generates', async () => {
    const engine = await createTargetEngine({ modelPath: targetPath, threads: 1, gpu: 'auto' });
    engines.push(engine);
    expect(['cpu', 'cuda', 'vulkan', 'metal']).toContain(engine.backend);
    let text = '';
    for await (const e of engine.generate({ prompt: 'The river', maxTokens: 4 })) {
      if (e.type === 'done') text = e.text;
    }
    expect(text.length).toBeGreaterThan(0);
  });

  it('gpu "cuda" runs on CUDA or fails with a ModelLoadError that names the backend', async () => {
    const outcome = await createTargetEngine({ modelPath: targetPath, threads: 1, gpu: 'cuda' })
      .then((engine) => {
        engines.push(engine);
        return { backend: engine.backend } as const;
      })
      .catch((err: Error) => ({ error: err }));
    if ('backend' in outcome) {
      expect(outcome.backend).toBe('cuda');
    } else {
      expect(outcome.error.name).toBe('ModelLoadError');
      expect(outcome.error.message).toMatch(/cuda backend is not usable on this machine/);
    }
  });
});
