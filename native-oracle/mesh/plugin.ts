/**
 * Wires the oracle mesh into the HTTP server: /v1/system/peers and /v1/system/topology show the
 * mesh, /v1/system/reputation and /v1/system/bans its trust ledger, and each chat request drafts
 * with leased scouts when any are eligible.
 *
 *   const mesh = await createOracleMesh({ engine, relays });
 *   const server = createOracleServer({ engine, host, port, plugins: [meshPlugin(mesh)] });
 */
import { registerTrustRoutes } from '../api/system.js';
import type { DraftSource } from '../engine/index.js';
import type { OraclePlugin } from '../server.js';
import type { OracleMesh, ScoutFloor } from './index.js';

export interface MeshPluginOptions {
  /** Start the mesh after the server listens and stop it before it closes; default true. */
  isManagingLifecycle?: boolean;
  /**
   * Whether a request's prompt may be shown to scouts; default: unless the request itself said
   * no (`shard.allow_scouts: false` or header `x-shard-allow-scouts: false`). Requests it
   * refuses use the engine's own draft source.
   */
  isPromptShareable?(request: { id: string; speculation: string; allowScouts?: boolean }): boolean;
  /** The oracle's own draft source, used in rounds where no scout draft is usable. */
  fallback?: () => DraftSource | null;
  /**
   * The scout floor of a request; default the floor its privacy envelope asked for
   * (`request.scoutFloor`, set by the chat route), else undefined, which leaves the mesh's own
   * floor (`reputable` unless configured). `none` drafts with no scout.
   */
  scoutFloor?(request: {
    id: string;
    speculation: string;
    allowScouts?: boolean;
    scoutFloor?: ScoutFloor;
  }): ScoutFloor | undefined;
}

export function meshPlugin(mesh: OracleMesh, options: MeshPluginOptions = {}): OraclePlugin {
  return (router, ctx) => {
    ctx.setPeers(() => mesh.peers());
    registerTrustRoutes(router, { reputation: () => mesh.reputation(), bans: () => mesh.bans() });
    ctx.setTopology(() => mesh.topology());
    ctx.setDraftSourceProvider((request) => {
      if (request.speculation === 'off') return undefined;
      const isShareable = options.isPromptShareable
        ? options.isPromptShareable(request)
        : request.allowScouts !== false;
      if (!isShareable) return undefined;
      // undefined keeps the engine's default source when no scout is eligible.
      return (
        mesh.scoutDraftSource({
          fallback: options.fallback?.() ?? null,
          scoutFloor: options.scoutFloor ? options.scoutFloor(request) : request.scoutFloor
        }) ?? undefined
      );
    });
    if (options.isManagingLifecycle === false) return;
    return {
      start: () => mesh.start(),
      stop: () => mesh.stop()
    };
  };
}
