/**
 * The contributor control plane: contributors (Ed25519 keys; a browser scout has one) create
 * sessions, switch participation on and off, register nodes (scout, verifier, oracle) and keep
 * them alive with heartbeats; the oracle keeps that state in SQLite, lists the live serving nodes
 * for the capacity registry, and keeps a credit ledger of verified work per contributor.
 *
 * Every message is a signed envelope (src/lib/protocol/contribution.ts) refused when its
 * signature is bad, its timestamp stale (constants.ts), its nonce replayed (nonce store in the
 * same SQLite file, bounded) or its signer is not the session's key. A refused message changes
 * nothing. State survives a restart (same file).
 *
 * Usage: `createOracleServer({ ..., plugins: [contributionPlugin({ dataDir })] })` registers the
 * `/v1/contribution/*` routes (behind the server's API-key guard) on `<dataDir>/contribution.sqlite`;
 * the plugin also lets the chat route forward requests it cannot serve to live contributed
 * oracles (api/chat-forward.ts). Or create the service with createContributionService() and pass
 * it as `{ service }` so other units (admission, workflows) can call `identify()`, `credit()` and
 * `activeNodes()`.
 */
import { join } from 'node:path';
import { dataDir as defaultDataDir } from '../../src/lib/server/data-dir.js';
import type {
  ContributedNode,
  ContributorSession,
  CreditBalance,
  CreditKind,
  NodeRole
} from '../../src/lib/protocol/contribution.js';
import type { SupplyTier, TrustTier } from '../../src/lib/protocol/policy.js';
import type { CapabilityDescriptor } from '../../src/lib/protocol/receipts.js';
import type { Router } from '../http/router.js';
import { attachChatForwarder, createChatForwarder } from '../api/chat-forward.js';
import { registerContributionRoutes } from '../api/contribution.js';
import { createContributionServiceImpl } from './service.js';

export * from './constants.js';
export * from './errors.js';
export {
  parseContributorSettings,
  createRequestIdentifier,
  type ContributorSettings
} from './requests.js';

/** File name of the control plane's store inside the data dir. */
export const CONTRIBUTION_STORE_FILE = 'contribution.sqlite';

export interface ContributionServiceOptions {
  /** The SQLite file; default `<dataDir>/contribution.sqlite`. */
  path?: string;
  /** Default SHARD_DATA_DIR or `<cwd>/.shard`. */
  dataDir?: string;
  /**
   * Contributor keys (64 hex) the operator trusts: their nodes get trust `verified_mesh` and may
   * offer the private and personal tiers. Default none: every node is `public_specialist` and may
   * only offer the public tier.
   */
  trustedContributors?: readonly string[];
  /** Clock (ms since the epoch); default Date.now. Tests move it. */
  now?: () => number;
}

/** What `identify()` reads: the request's method, path (no query) and headers. */
export interface IdentifyRequest {
  method: string;
  path: string;
  headers: Headers | Record<string, string | string[] | undefined>;
}

/** What verified the credited work: the unit (`source`) and its record (`ref`), plus details. */
export type CreditEvidence = { source: string; ref: string } & Record<string, unknown>;

export interface CreditResult {
  identity: string;
  kind: CreditKind;
  amount: number;
  /** Credits added by this call: amount × rate, or 0 when the evidence was already credited. */
  credits: number;
  is_duplicate: boolean;
  /** The identity's balance after the call. */
  balance: number;
}

/**
 * One entry of the registry feed: a verifier or oracle node of a participating session whose
 * last heartbeat is within HEARTBEAT_TIMEOUT_MS and that has an endpoint.
 */
export interface ActiveNode {
  node_id: string;
  /** The contributor's public key (hex): the identity its work is credited to. */
  contributor: string;
  session_id: string;
  role: Extract<NodeRole, 'verifier' | 'oracle'>;
  /** Declared by the node (non-public tiers only for trusted contributors). */
  supply_tier: SupplyTier;
  /** Assigned by this oracle: `verified_mesh` for trusted contributors, else `public_specialist`. */
  trust_tier: TrustTier;
  /** Base URL serving `/v1/chat/completions`. */
  endpoint: string;
  capacity: number;
  model_id: string | null;
  price_per_1k_input_usd: number;
  price_per_1k_output_usd: number;
  health: {
    healthy: true;
    last_heartbeat_ms: number;
    age_ms: number;
    queue_depth: number;
    node_latency_ms: number;
    uptime_seconds: number;
    capability_tier: string | null;
    gpu_available: boolean | null;
    public_api: boolean | null;
    accepts_scout_work: boolean | null;
  };
}

export interface ContributionService {
  /** Path of the SQLite file. */
  readonly storePath: string;
  /**
   * `session.create` envelope → a new session of the signer, participation off. Throws the
   * ContributionError of the failed check (InvalidContributionMessageError, InvalidSignatureError,
   * StaleMessageError, ReplayedNonceError, NonceLimitError, SessionLimitError).
   */
  createSession(envelope: unknown): ContributorSession;
  /** `participation.set` → the session after the change. Also SessionNotFoundError, SessionKeyMismatchError. */
  setParticipation(envelope: unknown): ContributorSession;
  /**
   * `node.register` → the node (one per role and session; registering again updates it, keeping
   * its id). Also NodeRegistrationRefusedError (tier or endpoint not allowed).
   */
  registerNode(envelope: unknown): ContributedNode;
  /** `node.heartbeat` → the node with its new health. Also NodeNotRegisteredError. Earns no credit. */
  heartbeat(envelope: unknown): ContributedNode;
  /** `node.deregister` → removes the node. Also NodeNotRegisteredError. */
  deregisterNode(envelope: unknown): { node_id: string; session: ContributorSession };
  /** The session with its nodes, or null. */
  session(id: string): ContributorSession | null;
  /** The registry feed (see ActiveNode); recomputed on every call from the store and the clock. */
  activeNodes(): ActiveNode[];
  /**
   * Credits `identity` for verified work: `amount` units of `kind` × CREDIT_RATES[kind]. Called by
   * the units that verified the work (mesh verify sessions, golden tickets, workflow steps), never
   * for anything a contributor reports. The same evidence (kind, source, ref) is credited once; a
   * repeat returns `is_duplicate: true` and adds nothing. Throws InvalidCreditError.
   */
  credit(
    identity: string,
    kind: CreditKind,
    amount: number,
    evidence: CreditEvidence
  ): CreditResult;
  /** Balance, per-kind totals, rates and recent entries of `identity` (zeros when unknown). */
  credits(identity: string): CreditBalance;
  /**
   * The contributor behind a request, from its `x-shard-contributor` header: null when the header
   * is absent; `{ identity, credit }` (credit = balance) when it is valid. Throws
   * InvalidContributorHeaderError (with `reason`) when present but malformed, badly signed, stale
   * or replayed: same window and nonce store as the envelopes. Records the nonce.
   */
  identify(request: IdentifyRequest): { identity: string; credit: number } | null;
  /** Closes the SQLite file. */
  close(): void;
}

/** Opens (creating when needed) the store and returns the service. Throws ContributionStoreOpenError. */
export function createContributionService(
  options: ContributionServiceOptions = {}
): ContributionService {
  const path = options.path ?? join(options.dataDir ?? defaultDataDir(), CONTRIBUTION_STORE_FILE);
  return createContributionServiceImpl({ ...options, path });
}

/**
 * A registry-feed entry as the workflow capacity registry's candidate descriptor (what
 * `/v1/capabilities` and receipts show). The candidate id is the node id.
 */
export function toCapabilityDescriptor(node: ActiveNode): CapabilityDescriptor {
  return {
    candidate_id: node.node_id,
    display_name: `contributed ${node.role} ${node.node_id.slice(3, 11)}`,
    kind: 'remote_oracle',
    supply_tier: node.supply_tier,
    trust_tier: node.trust_tier,
    capability_tier: node.health.capability_tier,
    gpu_available: node.health.gpu_available,
    public_api: node.health.public_api,
    endpoint: node.endpoint,
    model_id: node.model_id,
    queue_depth: node.health.queue_depth,
    latency_ms: node.health.node_latency_ms,
    price_per_1k_input_usd: node.price_per_1k_input_usd,
    price_per_1k_output_usd: node.price_per_1k_output_usd,
    role: node.role,
    healthy: true
  };
}

/**
 * The oracle plugin: registers the `/v1/contribution/*` routes on `options.service`, or on a
 * service it opens on `<dataDir>/contribution.sqlite` (and closes in `stop`). A given service is
 * closed in `stop` too when `closeOnStop` (default false: its creator closes it).
 */
export function contributionPlugin(
  options: ContributionServiceOptions & {
    service?: ContributionService;
    closeOnStop?: boolean;
    /**
     * Forward chat requests this oracle cannot serve (model not here, queue full) to live
     * contributed oracle nodes that serve the model (api/chat-forward.ts); default true.
     */
    forwardChat?: boolean;
  } = {}
) {
  return (router: Router) => {
    const owned = options.service ? null : createContributionService(options);
    const service = options.service ?? owned!;
    registerContributionRoutes(router, service);
    if (options.forwardChat !== false)
      attachChatForwarder(router, createChatForwarder({ nodes: () => service.activeNodes() }));
    return {
      stop() {
        if (owned || options.closeOnStop) service.close();
      }
    };
  };
}
