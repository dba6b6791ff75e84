/**
 * The whole mesh for browser tests, on loopback with free ports: a relay process (relay/main.ts),
 * and in this process the target engine (llama.cpp on the generated target model), the oracle's
 * libp2p peer joined to the relay over WebSockets (so its relayed addresses are browser-dialable),
 * and the oracle HTTP server serving build/, /models/*.gguf, the API and the mesh views.
 */
import '../../../src/lib/server/node-compat.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createTargetEngine, type TargetEngine } from '../../../native-oracle/engine/index.js';
import {
  createOracleMesh,
  type OracleMesh,
  type OracleMeshOptions
} from '../../../native-oracle/mesh/index.js';
import { meshPlugin } from '../../../native-oracle/mesh/plugin.js';
import { createOracleServer, type OracleServer } from '../../../native-oracle/server.js';
import {
  spawnRelay,
  type RelayReady,
  type SpawnedProcess
} from '../../integration/mesh-harness.js';
import { ensureTestModels } from '../../helpers/models.js';

export interface MeshStack {
  url: string;
  server: OracleServer;
  engine: TargetEngine;
  mesh: OracleMesh;
  relay: SpawnedProcess<RelayReady>;
  relayWsAddr: string;
  close(): Promise<void>;
}

/**
 * Starts relay, engine, mesh and server; `close()` stops them in reverse order. `models`
 * overrides the generated pair (the draft is served as /models/draft.gguf from its folder).
 * The mesh runs the default trust rules: a new scout passes 3 golden tickets (scored against
 * the served draft) before it is leased under the `reputable` floor, so tests wait for it with
 * `mesh.waitForScouts`. Its ledger lives in a temp dir removed on close; `mesh` overrides
 * options (a spec that needs another floor says why).
 */
export async function startMeshStack(
  options: {
    models?: { targetPath: string; draftPath: string };
    mesh?: Partial<Omit<OracleMeshOptions, 'engine' | 'relays'>>;
  } = {}
): Promise<MeshStack> {
  const models = options.models ?? (await ensureTestModels());
  const relay = await spawnRelay();
  const relayWsAddr = relay.ready.multiaddrs.find((a) => a.includes('/ws/'));
  if (!relayWsAddr)
    throw new Error(`relay has no WebSocket address: ${relay.ready.multiaddrs.join(', ')}`);
  const engine = await createTargetEngine({ modelPath: models.targetPath, threads: 1 });
  // Ungoverned: these tests check that browser drafts are used, not whether they pay off.
  const dataDir = mkdtempSync(join(tmpdir(), 'shard-e2e-mesh-'));
  const mesh = await createOracleMesh({
    engine,
    relays: [relayWsAddr],
    announceSeconds: 1,
    isGoverned: false,
    draftModelPath: models.draftPath,
    dataDir,
    ...options.mesh
  });
  const server = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    staticDir: resolve('build'),
    modelsDir: dirname(models.draftPath),
    plugins: [meshPlugin(mesh)],
    shutdownGraceMs: 500
  });
  try {
    await server.start();
  } catch (err) {
    await relay.stop();
    await engine.dispose();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: server.url,
    server,
    engine,
    mesh,
    relay,
    relayWsAddr,
    async close() {
      await server.stop();
      await relay.stop();
      await engine.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
}
