import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

// COOP/COEP make the page cross-origin isolated, which wllama needs for WASM threads.
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp'
};

export default defineConfig({
  plugins: [sveltekit()],
  server: {
    headers: isolationHeaders,
    // `npm run dev`: the oracle (port 9091) answers API paths for the dev server.
    proxy: Object.fromEntries(
      ['/v1', '/health', '/models'].map((p) => [
        p,
        { target: 'http://127.0.0.1:9091', changeOrigin: false }
      ])
    )
  },
  preview: { headers: isolationHeaders },
  // wllama and web-llm ship their own workers and WASM; the optimizer must not rewrite them.
  optimizeDeps: { exclude: ['@wllama/wllama', '@mlc-ai/web-llm'] },
  worker: { format: 'es' },
  test: {
    // CPU-heavy tests (llama.cpp, libp2p peers) run serially: the machines have 2 cores.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000
        }
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000
        }
      }
    ]
  }
});
