/**
 * `client.contribution`: the contributor control plane. `createSession()` signs with a key you
 * pass (32-byte Ed25519 secret) or a new random one, and returns a Contributor whose every call
 * is a fresh signed envelope (new nonce, current time).
 */
import { z } from 'zod';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  ContributedNodeSchema,
  ContributorSessionSchema,
  CreditBalanceSchema,
  contributorPublicKeyHex,
  signEnvelope,
  type ContributedNode,
  type ContributionMessageType,
  type ContributorSession,
  type CreditBalance,
  type HeartbeatPayload,
  type PayloadOf,
  type RegisterNodePayload
} from '../protocol/contribution.js';
import type { Http } from './http.js';

const SessionAck = z.looseObject({
  ok: z.literal(true),
  detail: z.string(),
  session: ContributorSessionSchema
});
const NodeAck = z.looseObject({
  ok: z.literal(true),
  detail: z.string(),
  node: ContributedNodeSchema
});
const DeregisterAck = z.looseObject({
  ok: z.literal(true),
  detail: z.string(),
  node_id: z.string(),
  session: ContributorSessionSchema
});
const SessionEnvelope = z.looseObject({ ok: z.literal(true), session: ContributorSessionSchema });
const IdentityEnvelope = z.looseObject({ identity: z.string(), credit: z.number() });
const NodesEnvelope = z.looseObject({ ok: z.literal(true), nodes: z.array(z.looseObject({})) });

/** A contributor session on the oracle, bound to one signing key. */
export interface Contributor {
  readonly sessionId: string;
  /** The contributor identity (public key, hex). */
  readonly publicKeyHex: string;
  setParticipation(enabled: boolean): Promise<ContributorSession>;
  registerNode(node: Omit<RegisterNodePayload, 'session_id'>): Promise<ContributedNode>;
  heartbeat(beat: Omit<HeartbeatPayload, 'session_id'>): Promise<ContributedNode>;
  deregisterNode(node: {
    role: RegisterNodePayload['role'];
  }): Promise<{ node_id: string; session: ContributorSession }>;
  /** The session and its nodes as the oracle holds them. */
  status(): Promise<ContributorSession>;
  credits(): Promise<CreditBalance>;
}

export function createContribution(http: Http) {
  const post = <T extends ContributionMessageType, S extends z.ZodType>(
    path: string,
    type: T,
    payload: PayloadOf<T>,
    secretKey: Uint8Array,
    schema: S
  ) => http.json(path, schema, { body: signEnvelope(type, payload, { secretKey }) });

  const credits = (identity: string) =>
    http.json(`/v1/contribution/credits/${identity}`, CreditBalanceSchema);

  return {
    /** A new random contributor key (32 bytes); keep it to act as the same contributor later. */
    generateKey: (): Uint8Array => ed25519.utils.randomSecretKey(),

    /** Creates a session signed by `secretKey` (default: a new random key). */
    async createSession(
      options: { secretKey?: Uint8Array; label?: string } = {}
    ): Promise<Contributor> {
      const secretKey = options.secretKey ?? ed25519.utils.randomSecretKey();
      const publicKeyHex = contributorPublicKeyHex(secretKey);
      const created = await post(
        '/v1/contribution/sessions',
        'session.create',
        options.label !== undefined ? { label: options.label } : {},
        secretKey,
        SessionAck
      );
      const sessionId = created.session.session_id;
      const signed = <T extends ContributionMessageType, S extends z.ZodType>(
        path: string,
        type: T,
        payload: Omit<PayloadOf<T>, 'session_id'>,
        schema: S
      ) =>
        post(path, type, { session_id: sessionId, ...payload } as PayloadOf<T>, secretKey, schema);
      return {
        sessionId,
        publicKeyHex,
        setParticipation: async (enabled) =>
          (
            await signed(
              '/v1/contribution/participation',
              'participation.set',
              { enabled },
              SessionAck
            )
          ).session,
        registerNode: async (node) =>
          (await signed('/v1/contribution/register-node', 'node.register', node, NodeAck)).node,
        heartbeat: async (beat) =>
          (await signed('/v1/contribution/heartbeat', 'node.heartbeat', beat, NodeAck)).node,
        deregisterNode: async (node) => {
          const ack = await signed(
            '/v1/contribution/deregister-node',
            'node.deregister',
            node,
            DeregisterAck
          );
          return { node_id: ack.node_id, session: ack.session };
        },
        status: async () =>
          (await http.json(`/v1/contribution/sessions/${sessionId}`, SessionEnvelope)).session,
        credits: () => credits(publicKeyHex)
      };
    },

    /** Credit balance of any contributor identity (public key hex). */
    credits,

    /**
     * Who the oracle sees behind this client's requests (its `x-shard-contributor` header, signed
     * with the client's `contributorKey`) and that contributor's credit. 401 without a key.
     */
    async whoami(): Promise<{ identity: string; credit: number }> {
      const { identity, credit } = await http.json('/v1/contribution/identity', IdentityEnvelope);
      return { identity, credit };
    },

    /** The registry feed: live verifier/oracle nodes (see docs/contribution.md). */
    async nodes() {
      return (await http.json('/v1/contribution/nodes', NodesEnvelope)).nodes;
    }
  };
}

export type Contribution = ReturnType<typeof createContribution>;
