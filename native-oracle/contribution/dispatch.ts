/**
 * The one dispatch of signed control messages, shared by the HTTP routes
 * (`api/contribution.ts`) and the mesh protocol (`mesh/contribution-handler.ts`), so the two
 * transports cannot diverge: the same schema check, the same service method, the same status
 * and body. Failures are thrown as HttpError (status, code, message) for either transport to
 * render.
 */
import {
  CONTRIBUTION_MESSAGE_TYPES,
  ContributionEnvelopeSchemas,
  type ContributionMessageType
} from '../../src/lib/protocol/contribution.js';
import { BadRequestError, HttpError } from '../http/errors.js';
import { zodErrorToBadRequest } from '../http/validate.js';
import type { ContributionService } from './index.js';

/** The service methods a transport needs: one per signed message type. */
export type ContributionMessageTarget = Pick<
  ContributionService,
  'createSession' | 'setParticipation' | 'registerNode' | 'heartbeat' | 'deregisterNode'
>;

/** A successful dispatch: the HTTP status and the JSON body (`{ ok: true, detail, ... }`). */
export interface ContributionReply {
  status: number;
  body: { ok: true; detail: string } & Record<string, unknown>;
}

/** Status of each control-plane error (matched by name; the code comes from the error). */
const STATUS_BY_NAME: Record<string, number> = {
  InvalidContributionMessageError: 400,
  InvalidSignatureError: 401,
  StaleMessageError: 401,
  InvalidContributorHeaderError: 401,
  SessionKeyMismatchError: 403,
  NodeRegistrationRefusedError: 403,
  SessionNotFoundError: 404,
  ReplayedNonceError: 409,
  NodeNotRegisteredError: 409,
  SessionLimitError: 409,
  NonceLimitError: 429,
  ContributionStoreOpenError: 503
};

/** Maps a control-plane error to its HttpError; anything else passes through unchanged. */
export function contributionHttpError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const status = STATUS_BY_NAME[err.name];
  if (status === undefined) return err;
  const code = (err as { code?: unknown }).code;
  const retryAfterS = (err as { retryAfterS?: unknown }).retryAfterS;
  const headers: Record<string, string> =
    typeof retryAfterS === 'number' ? { 'retry-after': String(Math.ceil(retryAfterS)) } : {};
  return new HttpError(
    err.message,
    status,
    typeof code === 'string' ? code : 'invalid_request',
    headers,
    { cause: err }
  );
}

const ACTIONS: {
  [T in ContributionMessageType]: (
    service: ContributionMessageTarget,
    envelope: unknown
  ) => ContributionReply;
} = {
  'session.create': (service, envelope) => ({
    status: 201,
    body: { ok: true, detail: 'session created', session: service.createSession(envelope) }
  }),
  'participation.set': (service, envelope) => {
    const session = service.setParticipation(envelope);
    const detail = session.participation_enabled
      ? 'participation enabled'
      : 'participation disabled';
    return { status: 200, body: { ok: true, detail, session } };
  },
  'node.register': (service, envelope) => ({
    status: 200,
    body: { ok: true, detail: 'registered', node: service.registerNode(envelope) }
  }),
  'node.heartbeat': (service, envelope) => ({
    status: 200,
    body: { ok: true, detail: 'heartbeat accepted', node: service.heartbeat(envelope) }
  }),
  'node.deregister': (service, envelope) => ({
    status: 200,
    body: { ok: true, detail: 'deregistered', ...service.deregisterNode(envelope) }
  })
};

/**
 * Checks `envelope` against the schema of `type` (400 naming the field, as the routes' body
 * check does), then runs the service method of `type`. Throws HttpError for every refusal;
 * a refused message changes nothing (the service's rule).
 */
export function dispatchContribution(
  service: ContributionMessageTarget,
  type: ContributionMessageType,
  envelope: unknown
): ContributionReply {
  const parsed = ContributionEnvelopeSchemas[type].safeParse(envelope);
  if (!parsed.success) throw zodErrorToBadRequest(parsed.error);
  try {
    return ACTIONS[type](service, parsed.data);
  } catch (err) {
    throw contributionHttpError(err);
  }
}

/** Whether `value` names a signed message type. */
function isMessageType(value: unknown): value is ContributionMessageType {
  return (
    typeof value === 'string' && (CONTRIBUTION_MESSAGE_TYPES as readonly string[]).includes(value)
  );
}

/**
 * Dispatches an envelope whose own `type` picks the message (the mesh sends one endpoint for
 * all types; the signed `type` cannot be changed without breaking the signature).
 */
export function dispatchContributionEnvelope(
  service: ContributionMessageTarget,
  envelope: unknown
): ContributionReply {
  const type =
    typeof envelope === 'object' && envelope !== null && !Array.isArray(envelope)
      ? (envelope as { type?: unknown }).type
      : undefined;
  if (!isMessageType(type)) {
    throw new BadRequestError(
      `invalid request: type: expected one of ${CONTRIBUTION_MESSAGE_TYPES.join(', ')}`,
      'invalid_request',
      'type'
    );
  }
  return dispatchContribution(service, type, envelope);
}
