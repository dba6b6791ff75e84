/**
 * The privacy envelope of a chat request (issue 9): body `shard.privacy` and header
 * `x-shard-privacy` (its JSON), parsed with the shared rules of src/lib/protocol/privacy.ts, plus
 * the older `shard.allow_scouts` / `x-shard-allow-scouts: false`, which means scout floor `none`.
 *
 * Rules, in order:
 * 1. each of header and body is parsed on its own; a bad one is a 400 naming it;
 * 2. sent together, their normalized envelopes must be equal (400 otherwise);
 * 3. allow_scouts false lowers the floor to `none` (the stricter choice wins);
 * 4. this oracle has no TEE and no encrypted computation: a request that requires either is a
 *    400 `privacy_unsatisfiable` naming the requirement, never run somewhere weaker, and never
 *    shown to a scout (it fails before any draft source is chosen).
 */
import { BadRequestError } from '../http/errors.js';
import type { OracleContext } from '../http/router.js';
import {
  PRIVACY_HEADER,
  describePrivacyRequirement,
  parsePrivacy,
  parsePrivacyHeader,
  type PrivacyEnvelope,
  type ScoutFloor
} from '../../src/lib/protocol/privacy.js';

/** A request's envelope and the scout floor it asked for (undefined: the mesh's default). */
export interface RequestPrivacy {
  privacy: PrivacyEnvelope;
  scoutFloor: ScoutFloor | undefined;
}

const BODY_FIELD = 'shard.privacy';

const hasFloor = (raw: unknown) => typeof raw === 'object' && raw !== null && 'scout_floor' in raw;

function sameEnvelope(a: PrivacyEnvelope, b: PrivacyEnvelope): boolean {
  return (Object.keys(a) as Array<keyof PrivacyEnvelope>).every((k) => a[k] === b[k]);
}

/**
 * Reads the envelope of one chat request. `allowScouts` is the request's own word
 * (generation.ts allowScoutsOf). Throws BadRequestError (400) as the file comment says.
 */
export function chatPrivacyOf(
  c: OracleContext,
  body: { shard?: { privacy?: unknown } | null },
  allowScouts: boolean | undefined
): RequestPrivacy {
  const headerValue = c.req.header(PRIVACY_HEADER);
  const bodyValue = body.shard?.privacy;
  const fromHeader = parsePrivacyHeader(headerValue);
  if (!fromHeader.ok)
    throw new BadRequestError(fromHeader.detail, 'invalid_header', PRIVACY_HEADER);
  const fromBody = parsePrivacy(bodyValue, BODY_FIELD);
  if (!fromBody.ok) throw new BadRequestError(fromBody.detail, 'invalid_request', BODY_FIELD);
  const hasHeader = headerValue !== undefined && headerValue.trim() !== '';
  const hasBody = bodyValue !== undefined && bodyValue !== null;
  if (hasHeader && hasBody && !sameEnvelope(fromHeader.privacy, fromBody.privacy)) {
    throw new BadRequestError(
      `${PRIVACY_HEADER} and ${BODY_FIELD} disagree; send one, or the same envelope in both`,
      'invalid_request',
      BODY_FIELD
    );
  }
  const privacy = { ...(hasHeader ? fromHeader.privacy : fromBody.privacy) };
  const raw = hasHeader ? (JSON.parse(headerValue!) as unknown) : bodyValue;
  let scoutFloor: ScoutFloor | undefined = hasFloor(raw) ? privacy.scout_floor : undefined;
  if (allowScouts === false) {
    privacy.scout_floor = 'none';
    scoutFloor = 'none';
  }
  const requirement = describePrivacyRequirement(privacy);
  if (requirement) {
    throw new BadRequestError(
      `this oracle cannot honour the privacy envelope: the request needs ${requirement}, and ` +
        'this oracle declares no TEE and no encrypted computation (it never runs a request somewhere weaker)',
      'privacy_unsatisfiable',
      hasHeader ? PRIVACY_HEADER : BODY_FIELD
    );
  }
  return { privacy, scoutFloor };
}
