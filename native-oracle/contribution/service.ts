/**
 * The control plane's rules over its store: every signed message is checked in the same order
 * (schema → signature → freshness → nonce → session key → the message's own rules), and what it
 * changes is written in one transaction together with its nonce, so a refused message changes
 * nothing. See index.ts for the contract.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  ContributionEnvelopeSchemas,
  CONTRIBUTOR_HEADER,
  CREDIT_KINDS,
  SERVING_ROLES,
  parseContributorHeader,
  verifyContributorHeader,
  verifyEnvelopeSignature,
  type ContributedNode,
  type ContributionMessageType,
  type ContributorSession,
  type CreditBalance,
  type CreditKind,
  type EnvelopeOf,
  type NodeHeartbeat
} from '../../src/lib/protocol/contribution.js';
import type { TrustTier } from '../../src/lib/protocol/policy.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  CREDIT_RATES,
  HEARTBEAT_TIMEOUT_MS,
  MAX_CREDIT_AMOUNT_PER_CALL,
  MAX_FUTURE_SKEW_MS,
  MAX_MESSAGE_AGE_MS,
  MAX_NONCES_PER_SIGNER,
  MAX_NONCES_TOTAL,
  MAX_SESSIONS_PER_CONTRIBUTOR,
  RECENT_CREDIT_ENTRIES
} from './constants.js';
import {
  ContributionError,
  InvalidContributionMessageError,
  InvalidContributorHeaderError,
  InvalidCreditError,
  InvalidSignatureError,
  NodeNotRegisteredError,
  NodeRegistrationRefusedError,
  NonceLimitError,
  ReplayedNonceError,
  SessionKeyMismatchError,
  SessionLimitError,
  SessionNotFoundError,
  StaleMessageError
} from './errors.js';
import type {
  ActiveNode,
  ContributionService,
  ContributionServiceOptions,
  CreditEvidence,
  CreditResult,
  IdentifyRequest
} from './index.js';
import { nodeView, openContributionStore, type ContributionStore } from './store.js';

const log = createLogger('shard:oracle:contribution');

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`)
    .join('; ');
}

/** Refuses a timestamp outside [now - MAX_MESSAGE_AGE_MS, now + MAX_FUTURE_SKEW_MS]. */
export function checkFreshness(timestampMs: number, nowMs: number): void {
  const ageMs = nowMs - timestampMs;
  if (ageMs > MAX_MESSAGE_AGE_MS) {
    throw new StaleMessageError(
      `the message is stale: its timestamp_ms is ${Math.round(ageMs / 1000)} s old and messages ` +
        `older than ${MAX_MESSAGE_AGE_MS / 1000} s are refused (replay window); sign a new one ` +
        `with the current time (is this machine's clock right?)`
    );
  }
  if (-ageMs > MAX_FUTURE_SKEW_MS) {
    throw new StaleMessageError(
      `the message is dated ${Math.round(-ageMs / 1000)} s in the future; at most ` +
        `${MAX_FUTURE_SKEW_MS / 1000} s of clock skew is accepted (is this machine's clock right?)`
    );
  }
}

const isLoopbackUrl = (url: string) => {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
};

function headerValue(headers: IdentifyRequest['headers'], name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') {
    return (headers as Headers).get(name) ?? undefined;
  }
  const raw = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(raw) ? raw[0] : raw;
}

/** Creates the service on its SQLite file; see createContributionService in index.ts. */
export function createContributionServiceImpl(
  options: ContributionServiceOptions & { path: string }
): ContributionService {
  const store: ContributionStore = openContributionStore(options.path);
  const now = options.now ?? Date.now;
  const trusted = new Set((options.trustedContributors ?? []).map((k) => k.toLowerCase()));

  /** Records (signer, nonce) until the message would be stale anyway; inside a transaction. */
  const claimNonce = (signer: string, nonce: string, timestampMs: number, nowMs: number) => {
    store.pruneNonces(nowMs);
    if (store.hasNonce(signer, nonce)) {
      throw new ReplayedNonceError(
        `nonce ${nonce} was already used by this key: each message needs a new nonce (replay refused)`
      );
    }
    const counts = store.nonceCounts(signer);
    if (counts.signer >= MAX_NONCES_PER_SIGNER || counts.total >= MAX_NONCES_TOTAL) {
      throw new NonceLimitError(
        `too many messages: at most ${MAX_NONCES_PER_SIGNER} per key within ` +
          `${MAX_MESSAGE_AGE_MS / 1000} s are accepted; retry later`,
        MAX_MESSAGE_AGE_MS / 1000
      );
    }
    store.insertNonce(signer, nonce, timestampMs + MAX_MESSAGE_AGE_MS);
  };

  /**
   * The common path of every signed message: schema, signature over the raw object, freshness,
   * then `apply` in one transaction with the nonce. Throws the ContributionError of the first
   * check that fails; nothing is written then.
   */
  const accept = <T extends ContributionMessageType, R>(
    type: T,
    raw: unknown,
    apply: (envelope: EnvelopeOf<T>, nowMs: number) => R
  ): R => {
    const parsed = ContributionEnvelopeSchemas[type].safeParse(raw);
    if (!parsed.success) {
      throw new InvalidContributionMessageError(
        `invalid ${type} message: ${describeIssues(parsed.error)}`
      );
    }
    // The schemas have no defaults or transforms: the raw object is exactly what was signed.
    if (!verifyEnvelopeSignature(raw as Record<string, unknown>)) {
      throw new InvalidSignatureError(
        `the signature does not verify for signer_pubkey_hex over this ${type} message ` +
          '(sign "shard-contribution/1\\n" + the canonical JSON of the envelope without signature_hex)'
      );
    }
    const envelope = parsed.data as EnvelopeOf<T>;
    const nowMs = now();
    checkFreshness(envelope.timestamp_ms, nowMs);
    return store.transaction(() => {
      claimNonce(envelope.signer_pubkey_hex, envelope.nonce, envelope.timestamp_ms, nowMs);
      return apply(envelope, nowMs);
    });
  };

  const ownedSession = (
    envelope: { signer_pubkey_hex: string; payload: { session_id: string; node_pubkey?: string } },
    what: string
  ) => {
    const { session_id: id, node_pubkey: nodeKey } = envelope.payload;
    const row = store.session(id);
    if (!row) throw new SessionNotFoundError(`session ${id} does not exist`);
    if (row.contributor !== envelope.signer_pubkey_hex) {
      throw new SessionKeyMismatchError(
        `session ${id} belongs to another key: the ${what} must be signed by the key that created the session`
      );
    }
    if (nodeKey !== undefined && nodeKey !== envelope.signer_pubkey_hex) {
      throw new SessionKeyMismatchError(
        `signer pubkey does not match the ${what} payload's node_pubkey`
      );
    }
    return row;
  };

  const sessionView = (id: string, nowMs: number): ContributorSession | null => {
    const row = store.session(id);
    if (!row) return null;
    return {
      session_id: row.session_id,
      contributor: row.contributor,
      label: row.label,
      participation_enabled: row.participation_enabled === 1,
      created_at_ms: row.created_at_ms,
      updated_at_ms: row.updated_at_ms,
      nodes: store.nodesOfSession(id).map((n) => nodeView(n, nowMs, HEARTBEAT_TIMEOUT_MS))
    };
  };

  const trustOf = (contributor: string): TrustTier =>
    trusted.has(contributor) ? 'verified_mesh' : 'public_specialist';

  const balanceOf = (identity: string) =>
    store.balances(identity).reduce((sum, b) => sum + b.credits, 0);

  const registerNode = (raw: unknown): ContributedNode =>
    accept('node.register', raw, (envelope, nowMs) => {
      const session = ownedSession(envelope, 'registration');
      const p = envelope.payload;
      const tier = p.supply_tier ?? 'public';
      const isTrusted = trusted.has(session.contributor);
      if (p.endpoint !== undefined && !SERVING_ROLES.includes(p.role)) {
        throw new NodeRegistrationRefusedError(
          'an endpoint is only for verifier and oracle nodes; scouts draft over the mesh'
        );
      }
      if (tier !== 'public' && !isTrusted) {
        throw new NodeRegistrationRefusedError(
          `the ${tier} tier is only for contributors this oracle's operator trusts; offer the public tier`
        );
      }
      if (tier === 'personal' && p.endpoint !== undefined && !isLoopbackUrl(p.endpoint)) {
        throw new NodeRegistrationRefusedError(
          'the personal tier is this machine: its endpoint must be a loopback address'
        );
      }
      const existing = store.node(p.session_id, p.role);
      store.upsertNode({
        node_id: existing?.node_id ?? `cn-${randomUUID()}`,
        session_id: p.session_id,
        role: p.role,
        capacity: p.capacity ?? 1,
        supply_tier: tier,
        trust_tier: trustOf(session.contributor),
        endpoint: p.endpoint ?? null,
        model_id: p.model_id ?? null,
        price_per_1k_input_usd: p.price_per_1k_input_usd ?? 0,
        price_per_1k_output_usd: p.price_per_1k_output_usd ?? 0,
        registered_at_ms: existing?.registered_at_ms ?? nowMs
      });
      store.touchSession(p.session_id, nowMs);
      const node = store.node(p.session_id, p.role)!;
      log.info('node registered', { node: node.node_id, role: p.role, tier });
      return nodeView(node, nowMs, HEARTBEAT_TIMEOUT_MS);
    });

  const heartbeat = (raw: unknown): ContributedNode =>
    accept('node.heartbeat', raw, (envelope, nowMs) => {
      ownedSession(envelope, 'heartbeat');
      const p = envelope.payload;
      if (!store.node(p.session_id, p.role)) {
        throw new NodeNotRegisteredError(
          `no ${p.role} node is registered in session ${p.session_id}; register it first (POST /v1/contribution/register-node)`
        );
      }
      // The oracle's clock dates the heartbeat: freshness must not depend on the sender's clock.
      const beat: NodeHeartbeat = {
        at_ms: nowMs,
        queue_depth: p.queue_depth,
        node_latency_ms: p.node_latency_ms,
        uptime_seconds: p.uptime_seconds,
        capability_tier: p.capability_tier ?? null,
        gpu_available: p.gpu_available ?? null,
        accepts_scout_work: p.accepts_scout_work ?? null,
        public_api: p.public_api ?? null,
        public_api_addr: p.public_api_addr ?? null
      };
      store.recordHeartbeat(p.session_id, p.role, beat);
      return nodeView(store.node(p.session_id, p.role)!, nowMs, HEARTBEAT_TIMEOUT_MS);
    });

  return {
    storePath: options.path,

    createSession: (raw) =>
      accept('session.create', raw, (envelope, nowMs) => {
        const contributor = envelope.signer_pubkey_hex;
        if (store.sessionCount(contributor) >= MAX_SESSIONS_PER_CONTRIBUTOR) {
          throw new SessionLimitError(
            `this key already holds ${MAX_SESSIONS_PER_CONTRIBUTOR} sessions, the most allowed`
          );
        }
        const id = `cs-${randomUUID()}`;
        store.insertSession({
          session_id: id,
          contributor,
          label: envelope.payload.label ?? null,
          // Contributing is opt-in: a new session serves nothing until participation is on.
          participation_enabled: 0,
          created_at_ms: nowMs,
          updated_at_ms: nowMs
        });
        log.info('session created', { session: id });
        return sessionView(id, nowMs)!;
      }),

    setParticipation: (raw) =>
      accept('participation.set', raw, (envelope, nowMs) => {
        ownedSession(envelope, 'participation change');
        store.setParticipation(envelope.payload.session_id, envelope.payload.enabled, nowMs);
        return sessionView(envelope.payload.session_id, nowMs)!;
      }),

    registerNode,
    heartbeat,

    deregisterNode: (raw) =>
      accept('node.deregister', raw, (envelope, nowMs) => {
        ownedSession(envelope, 'deregistration');
        const p = envelope.payload;
        const node = store.node(p.session_id, p.role);
        if (!node) {
          throw new NodeNotRegisteredError(
            `no ${p.role} node is registered in session ${p.session_id}`
          );
        }
        store.deleteNode(p.session_id, p.role);
        store.touchSession(p.session_id, nowMs);
        log.info('node deregistered', { node: node.node_id });
        return { node_id: node.node_id, session: sessionView(p.session_id, nowMs)! };
      }),

    session: (id) => sessionView(id, now()),

    activeNodes(): ActiveNode[] {
      const nowMs = now();
      return store
        .freshNodes(nowMs - HEARTBEAT_TIMEOUT_MS)
        .map((row) => nodeView(row, nowMs, HEARTBEAT_TIMEOUT_MS))
        .filter(
          (n): n is ContributedNode & { endpoint: string; last_heartbeat: NodeHeartbeat } =>
            SERVING_ROLES.includes(n.role) && n.endpoint !== null && n.last_heartbeat !== null
        )
        .map((n) => ({
          node_id: n.node_id,
          contributor: n.contributor,
          session_id: n.session_id,
          role: n.role as ActiveNode['role'],
          supply_tier: n.supply_tier,
          trust_tier: n.trust_tier,
          endpoint: n.endpoint,
          capacity: n.capacity,
          model_id: n.model_id,
          price_per_1k_input_usd: n.price_per_1k_input_usd,
          price_per_1k_output_usd: n.price_per_1k_output_usd,
          health: {
            healthy: true,
            last_heartbeat_ms: n.last_heartbeat.at_ms,
            age_ms: nowMs - n.last_heartbeat.at_ms,
            queue_depth: n.last_heartbeat.queue_depth,
            node_latency_ms: n.last_heartbeat.node_latency_ms,
            uptime_seconds: n.last_heartbeat.uptime_seconds,
            capability_tier: n.last_heartbeat.capability_tier,
            gpu_available: n.last_heartbeat.gpu_available,
            public_api: n.last_heartbeat.public_api,
            accepts_scout_work: n.last_heartbeat.accepts_scout_work
          }
        }));
    },

    credit(identity, kind, amount, evidence): CreditResult {
      validateCredit(identity, kind, amount, evidence);
      const credits = amount * CREDIT_RATES[kind];
      const isNew = store.transaction(() =>
        store.insertCredit({ identity, kind, amount, credits, evidence, atMs: now() })
      );
      if (isNew) log.debug('credited', { kind, amount, credits });
      return {
        identity,
        kind,
        amount,
        credits: isNew ? credits : 0,
        is_duplicate: !isNew,
        balance: balanceOf(identity)
      };
    },

    credits(identity): CreditBalance {
      const byKind = Object.fromEntries(CREDIT_KINDS.map((k) => [k, 0])) as Record<
        CreditKind,
        number
      >;
      for (const b of store.balances(identity)) byKind[b.kind] = b.credits;
      return {
        ok: true,
        identity,
        credits: Object.values(byKind).reduce((a, b) => a + b, 0),
        by_kind: byKind,
        rates: { ...CREDIT_RATES },
        recent: store.recentCredits(identity, RECENT_CREDIT_ENTRIES)
      };
    },

    identify(request) {
      const value = headerValue(request.headers, CONTRIBUTOR_HEADER);
      if (value === undefined) return null;
      const header = parseContributorHeader(value);
      if (!header) {
        throw new InvalidContributorHeaderError(
          `${CONTRIBUTOR_HEADER} must be <pubkey hex>.<timestamp_ms>.<nonce>.<signature hex>`,
          'malformed'
        );
      }
      if (!verifyContributorHeader(header, request)) {
        throw new InvalidContributorHeaderError(
          `${CONTRIBUTOR_HEADER}: the signature does not verify for ${request.method.toUpperCase()} ${request.path}`,
          'invalid_signature'
        );
      }
      const nowMs = now();
      try {
        checkFreshness(header.timestampMs, nowMs);
        store.transaction(() =>
          claimNonce(header.identity, header.nonce, header.timestampMs, nowMs)
        );
      } catch (err) {
        if (!(err instanceof ContributionError)) throw err;
        throw new InvalidContributorHeaderError(`${CONTRIBUTOR_HEADER}: ${err.message}`, err.code);
      }
      return { identity: header.identity, credit: balanceOf(header.identity) };
    },

    close(): void {
      store.close();
    }
  };
}

function validateCredit(
  identity: string,
  kind: CreditKind,
  amount: number,
  evidence: CreditEvidence
): void {
  if (typeof identity !== 'string' || !/^[0-9a-f]{64}$/.test(identity)) {
    throw new InvalidCreditError('identity must be a contributor public key (64 lowercase hex)');
  }
  if (!(CREDIT_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidCreditError(`kind must be one of ${CREDIT_KINDS.join(', ')}`);
  }
  if (!Number.isInteger(amount) || amount < 1 || amount > MAX_CREDIT_AMOUNT_PER_CALL) {
    throw new InvalidCreditError(
      `amount must be an integer from 1 to ${MAX_CREDIT_AMOUNT_PER_CALL} (units of ${kind})`
    );
  }
  const isText = (v: unknown, max: number) =>
    typeof v === 'string' && v.length > 0 && v.length <= max;
  if (!evidence || !isText(evidence.source, 100) || !isText(evidence.ref, 200)) {
    throw new InvalidCreditError(
      'evidence must name what verified the work: { source (1-100 chars), ref (1-200 chars) }'
    );
  }
}
