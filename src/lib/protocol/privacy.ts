/**
 * The privacy envelope: what a request needs from whatever runs it. Field names follow the
 * predecessor's `PrivacyEnvelope` (`requires_tee`, `encrypted`, `encryption_scheme`, `tee_mode`),
 * plus the mesh's scout floor (`scout_floor`: which scouts may see the prompt).
 *
 * Where it is sent: a workflow task's `policy.privacy`; chat's body `shard.privacy` or header
 * `x-shard-privacy` (its JSON). Capacity declares what it can honour (`tee:<mode>` and
 * `encryption:<scheme>` capability tags); a request is never routed to capacity that cannot
 * honour its envelope, and fails naming the requirement when nothing can.
 *
 * ONE normalization rule, the policy's: an ABSENT field takes its default, a PRESENT value is
 * taken literally. Then the fields must agree with each other:
 *   - `tee_mode` sgx or sev implies `requires_tee: true` (an explicit `false` is refused);
 *     `requires_tee: true` with `tee_mode` none means "any TEE" (sgx or sev);
 *   - `encryption_scheme` fhe implies `encrypted: true` (an explicit `false` is refused);
 *     `encrypted: true` without a scheme means fhe (the only scheme), with `none` is refused.
 * Unknown fields are refused.
 *
 * The TEE and encryption support are the operator's declarations (configuration); no remote
 * attestation is checked in v1. Framework-free (zod only): browser, chat API and workflows share it.
 */
import { z } from 'zod';

export const TEE_MODES = ['none', 'sgx', 'sev'] as const;
export const TeeModeSchema = z.enum(TEE_MODES);
export type TeeMode = z.infer<typeof TeeModeSchema>;

export const ENCRYPTION_SCHEMES = ['none', 'fhe'] as const;
export const EncryptionSchemeSchema = z.enum(ENCRYPTION_SCHEMES);
export type EncryptionScheme = z.infer<typeof EncryptionSchemeSchema>;

/**
 * Which mesh scouts may see the prompt: `none` (no scout; the oracle drafts itself), `trusted`
 * (operator-listed scouts only), `reputable` (past probation, not banned; the default), `any`.
 */
export const SCOUT_FLOORS = ['none', 'trusted', 'reputable', 'any'] as const;
export const ScoutFloorSchema = z.enum(SCOUT_FLOORS);
export type ScoutFloor = z.infer<typeof ScoutFloorSchema>;

/** The HTTP header that carries an envelope as JSON (chat requests, remote workflow steps). */
export const PRIVACY_HEADER = 'x-shard-privacy';

/** Longest `x-shard-privacy` header value read, in characters (an envelope is ~120). */
const MAX_PRIVACY_HEADER_CHARS = 1_000;

/** Capability tag a candidate carries when it runs inside an enclave of `mode`. */
export const teeTag = (mode: Exclude<TeeMode, 'none'>) => `tee:${mode}`;
/** Capability tag a candidate carries when it can run on payloads encrypted with `scheme`. */
export const encryptionTag = (scheme: Exclude<EncryptionScheme, 'none'>) => `encryption:${scheme}`;

/** What a client sends: every field optional, unknown fields refused. */
export const PrivacyEnvelopeInputSchema = z.strictObject({
  requires_tee: z.boolean().optional(),
  encrypted: z.boolean().optional(),
  encryption_scheme: EncryptionSchemeSchema.optional(),
  tee_mode: TeeModeSchema.optional(),
  scout_floor: ScoutFloorSchema.optional()
});
export type PrivacyEnvelopeInput = z.infer<typeof PrivacyEnvelopeInputSchema>;

/** The defaults: no TEE, no encryption, reputable scouts. */
export const PRIVACY_DEFAULTS = {
  requires_tee: false,
  encrypted: false,
  encryption_scheme: 'none',
  tee_mode: 'none',
  scout_floor: 'reputable'
} as const satisfies PrivacyEnvelopeInput;

/**
 * The normalized envelope, as recorded in receipts. Each field has its default, so a reader of
 * receipts written before a field existed still parses them.
 */
export const PrivacyEnvelopeSchema = z.object({
  requires_tee: z.boolean().default(PRIVACY_DEFAULTS.requires_tee),
  encrypted: z.boolean().default(PRIVACY_DEFAULTS.encrypted),
  encryption_scheme: EncryptionSchemeSchema.default(PRIVACY_DEFAULTS.encryption_scheme),
  tee_mode: TeeModeSchema.default(PRIVACY_DEFAULTS.tee_mode),
  scout_floor: ScoutFloorSchema.default(PRIVACY_DEFAULTS.scout_floor)
});
export type PrivacyEnvelope = z.infer<typeof PrivacyEnvelopeSchema>;

/** The envelope's fields disagree (e.g. `tee_mode: sgx` with `requires_tee: false`). */
export class PrivacyValidationError extends Error {
  override name = 'PrivacyValidationError';
}

/** A fresh default envelope. */
export function defaultPrivacy(): PrivacyEnvelope {
  return { ...PRIVACY_DEFAULTS };
}

/**
 * Applies the normalization rule (file comment) to a schema-validated input; undefined = all
 * defaults. `where` prefixes error messages (`policy.privacy`, `shard.privacy`). Throws
 * PrivacyValidationError naming the field when the fields disagree.
 */
export function normalizePrivacy(
  input: PrivacyEnvelopeInput | undefined,
  where = 'privacy'
): PrivacyEnvelope {
  const p = input ?? {};
  const tee_mode = p.tee_mode ?? PRIVACY_DEFAULTS.tee_mode;
  if (tee_mode !== 'none' && p.requires_tee === false) {
    throw new PrivacyValidationError(
      `${where}.requires_tee: false contradicts tee_mode ${tee_mode} (omit it or send true)`
    );
  }
  if (p.encrypted === true && p.encryption_scheme === 'none') {
    throw new PrivacyValidationError(
      `${where}.encryption_scheme: none contradicts encrypted: true (send fhe or omit it)`
    );
  }
  if (p.encryption_scheme === 'fhe' && p.encrypted === false) {
    throw new PrivacyValidationError(
      `${where}.encrypted: false contradicts encryption_scheme fhe (omit it or send true)`
    );
  }
  const encryption_scheme: EncryptionScheme =
    p.encryption_scheme ?? (p.encrypted === true ? 'fhe' : PRIVACY_DEFAULTS.encryption_scheme);
  return {
    requires_tee: p.requires_tee ?? tee_mode !== 'none',
    encrypted: encryption_scheme !== 'none',
    encryption_scheme,
    tee_mode,
    scout_floor: p.scout_floor ?? PRIVACY_DEFAULTS.scout_floor
  };
}

/**
 * Parses untrusted input (anything; undefined or null = defaults) into a normalized envelope, or
 * a precise error naming the field (`<where>.<field>: <rule>`).
 */
export function parsePrivacy(
  raw: unknown,
  where = 'privacy'
): { ok: true; privacy: PrivacyEnvelope } | { ok: false; detail: string } {
  if (raw === undefined || raw === null) return { ok: true, privacy: defaultPrivacy() };
  const parsed = PrivacyEnvelopeInputSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return {
      ok: false,
      detail: `${[where, ...issue.path.map(String)].join('.')}: ${issue.message}`
    };
  }
  try {
    return { ok: true, privacy: normalizePrivacy(parsed.data, where) };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

/** Parses an `x-shard-privacy` header value (the envelope as JSON); absent = defaults. */
export function parsePrivacyHeader(
  value: string | null | undefined
): { ok: true; privacy: PrivacyEnvelope } | { ok: false; detail: string } {
  if (value === undefined || value === null || value.trim() === '')
    return { ok: true, privacy: defaultPrivacy() };
  if (value.length > MAX_PRIVACY_HEADER_CHARS)
    return {
      ok: false,
      detail: `${PRIVACY_HEADER}: must be at most ${MAX_PRIVACY_HEADER_CHARS} characters`
    };
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    return { ok: false, detail: `${PRIVACY_HEADER}: must be a JSON object` };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, detail: `${PRIVACY_HEADER}: must be a JSON object` };
  return parsePrivacy(raw, PRIVACY_HEADER);
}

/** The header value for a normalized envelope (its JSON). */
export function encodePrivacyHeader(privacy: PrivacyEnvelope): string {
  return JSON.stringify(privacy);
}

/** True when the envelope asks for nothing beyond the defaults. */
export function isDefaultPrivacy(privacy: PrivacyEnvelope): boolean {
  return (Object.keys(PRIVACY_DEFAULTS) as Array<keyof PrivacyEnvelope>).every(
    (k) => privacy[k] === PRIVACY_DEFAULTS[k]
  );
}

/** What a candidate declares it can honour, read from its capability tags. */
export interface PrivacySupport {
  tee: TeeMode;
  encryption: EncryptionScheme;
}

/** Reads `tee:<mode>` and `encryption:<scheme>` tags; none declared = `none`. */
export function privacySupportOf(tags: readonly string[] | undefined): PrivacySupport {
  const t = tags ?? [];
  const tee = TEE_MODES.find((m) => m !== 'none' && t.includes(teeTag(m))) ?? 'none';
  const encryption =
    ENCRYPTION_SCHEMES.find((s) => s !== 'none' && t.includes(encryptionTag(s))) ?? 'none';
  return { tee, encryption };
}

/** The TEE requirement in words (`a TEE (sgx)`, `a TEE (sgx or sev)`), or null when none. */
function teeRequirement(privacy: PrivacyEnvelope): string | null {
  if (!privacy.requires_tee) return null;
  return privacy.tee_mode === 'none' ? 'a TEE (sgx or sev)' : `a TEE (${privacy.tee_mode})`;
}

/**
 * Why a candidate with `support` cannot honour `privacy` (`privacy_requires_tee: ...` or
 * `privacy_requires_encryption: ...`, in plain words), or null when it can. The scout floor
 * excludes no candidate: it is passed on with the request.
 */
export function privacyExclusion(privacy: PrivacyEnvelope, support: PrivacySupport): string | null {
  const tee = teeRequirement(privacy);
  if (tee) {
    const isHonoured =
      support.tee !== 'none' && (privacy.tee_mode === 'none' || privacy.tee_mode === support.tee);
    if (!isHonoured)
      return `privacy_requires_tee: the request needs ${tee}; this candidate declares ${
        support.tee === 'none' ? 'no TEE' : `a TEE (${support.tee})`
      }`;
  }
  if (privacy.encrypted && privacy.encryption_scheme !== support.encryption) {
    return `privacy_requires_encryption: the request is ${privacy.encryption_scheme}-encrypted; this candidate declares ${
      support.encryption === 'none' ? 'no encrypted computation' : support.encryption
    }`;
  }
  return null;
}

/** What the envelope requires of capacity, in words (`a TEE (sgx) and fhe encryption`); null when nothing. */
export function describePrivacyRequirement(privacy: PrivacyEnvelope): string | null {
  const parts = [
    teeRequirement(privacy),
    privacy.encrypted ? `${privacy.encryption_scheme} encryption` : null
  ].filter((p): p is string => p !== null);
  return parts.length > 0 ? parts.join(' and ') : null;
}

/** The envelope in one line for receipts and logs (`requires_tee=true tee_mode=sgx ...`). */
export function formatPrivacy(privacy: PrivacyEnvelope): string {
  return `requires_tee=${privacy.requires_tee} tee_mode=${privacy.tee_mode} encrypted=${privacy.encrypted} encryption_scheme=${privacy.encryption_scheme} scout_floor=${privacy.scout_floor}`;
}
