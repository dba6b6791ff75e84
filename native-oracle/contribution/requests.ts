/**
 * Who a request comes from, for earned priority (native-oracle/admission/priority.ts): a signed
 * `x-shard-contributor` header (checked by the service: signature, 30 s window, one-time nonce),
 * or an API key the operator mapped to a contributor identity (`SHARD_CONTRIBUTOR_KEYS`). The
 * header wins when both are present; a bad header is a 401, never a silent downgrade, so a
 * client learns that its identity was refused. Also checks the operator's contributor settings
 * (given by native-oracle/config.ts: --trusted-contributors, --contributor-keys).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { contributionHttpError } from '../api/contribution.js';
import type { ContributorIdentifier } from '../admission/priority.js';
import { ContributionConfigError } from './errors.js';
import type { ContributionService } from './index.js';

const PUBKEY = /^[0-9a-f]{64}$/;

/** The operator's contributor settings. */
export interface ContributorSettings {
  /** Contributor keys the operator trusts (--trusted-contributors, 64 hex each). */
  trustedContributors: string[];
  /** API key → contributor identity (--contributor-keys `key:pubkeyhex,...`). */
  apiKeyContributors: Array<{ apiKey: string; identity: string }>;
}

/**
 * Checks the raw entries of --trusted-contributors and --contributor-keys (both default empty);
 * `names` are the flag/variable names used in messages. Throws ContributionConfigError naming
 * the setting and the bad entry (never the whole API key).
 */
export function parseContributorSettings(
  raw: { trustedContributors: readonly string[]; contributorKeys: readonly string[] },
  names = {
    trustedContributors: '--trusted-contributors / SHARD_TRUSTED_CONTRIBUTORS',
    contributorKeys: '--contributor-keys / SHARD_CONTRIBUTOR_KEYS'
  }
): ContributorSettings {
  const trustedContributors = raw.trustedContributors.map((k) => {
    if (!PUBKEY.test(k.toLowerCase()))
      throw new ContributionConfigError(
        `${names.trustedContributors}: "${k.slice(0, 20)}" is not a contributor public key (64 hex)`
      );
    return k.toLowerCase();
  });
  const apiKeyContributors = raw.contributorKeys.map((entry) => {
    // The API key may itself contain ':'; the identity is what follows the last one.
    const at = entry.lastIndexOf(':');
    const apiKey = entry.slice(0, Math.max(0, at));
    const identity = entry.slice(at + 1).toLowerCase();
    if (at <= 0 || !PUBKEY.test(identity))
      throw new ContributionConfigError(
        `${names.contributorKeys}: each entry must be <api key>:<contributor public key, 64 hex>`
      );
    return { apiKey, identity };
  });
  return { trustedContributors, apiKeyContributors };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The API key a request presents (`Authorization: Bearer` or `X-API-Key`), if any. */
function presentedKey(headers: Headers): string | undefined {
  const auth = headers.get('authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return headers.get('x-api-key')?.trim() || undefined;
}

/**
 * The request identifier of the priority middleware over `service`. A valid header names its
 * key; else a mapped API key names its contributor; else null (a consumer). Throws the 401
 * HttpError of an invalid header.
 */
export function createRequestIdentifier(
  service: Pick<ContributionService, 'identify' | 'credits'>,
  apiKeyContributors: ContributorSettings['apiKeyContributors'] = []
): ContributorIdentifier {
  const mapped = apiKeyContributors.map((m) => ({
    digest: digest(m.apiKey),
    identity: m.identity
  }));
  return (request) => {
    let who: ReturnType<ContributorIdentifier>;
    try {
      who = service.identify(request);
    } catch (err) {
      throw contributionHttpError(err);
    }
    if (who || mapped.length === 0) return who;
    const key = presentedKey(request.headers);
    if (!key) return null;
    const d = digest(key);
    const match = mapped.find((m) => timingSafeEqual(m.digest, d));
    return match
      ? { identity: match.identity, credit: service.credits(match.identity).credits }
      : null;
  };
}
