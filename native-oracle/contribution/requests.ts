/**
 * Who a request comes from, for earned priority (native-oracle/admission/priority.ts): a signed
 * `x-shard-contributor` header (checked by the service: signature, 30 s window, one-time nonce),
 * or an API key the operator mapped to a contributor identity (`SHARD_CONTRIBUTOR_KEYS`). The
 * header wins when both are present; a bad header is a 401, never a silent downgrade, so a
 * client learns that its identity was refused. Also reads the operator's contributor settings
 * from the environment.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { contributionHttpError } from '../api/contribution.js';
import type { ContributorIdentifier } from '../admission/priority.js';
import { ContributionConfigError } from './errors.js';
import type { ContributionService } from './index.js';

const PUBKEY = /^[0-9a-f]{64}$/;

/** The operator's contributor settings. */
export interface ContributorSettings {
  /** Contributor keys the operator trusts (SHARD_TRUSTED_CONTRIBUTORS, comma-separated hex). */
  trustedContributors: string[];
  /** API key → contributor identity (SHARD_CONTRIBUTOR_KEYS=`key:pubkeyhex,...`). */
  apiKeyContributors: Array<{ apiKey: string; identity: string }>;
}

/**
 * Reads SHARD_TRUSTED_CONTRIBUTORS and SHARD_CONTRIBUTOR_KEYS (both default empty). Throws
 * ContributionConfigError naming the variable and the bad entry.
 */
export function contributorSettingsFromEnv(env: NodeJS.ProcessEnv): ContributorSettings {
  const list = (name: string) =>
    (env[name] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const trustedContributors = list('SHARD_TRUSTED_CONTRIBUTORS').map((k) => {
    if (!PUBKEY.test(k.toLowerCase()))
      throw new ContributionConfigError(
        `SHARD_TRUSTED_CONTRIBUTORS: "${k.slice(0, 20)}" is not a contributor public key (64 hex)`
      );
    return k.toLowerCase();
  });
  const apiKeyContributors = list('SHARD_CONTRIBUTOR_KEYS').map((entry) => {
    // The API key may itself contain ':'; the identity is what follows the last one.
    const at = entry.lastIndexOf(':');
    const apiKey = entry.slice(0, Math.max(0, at));
    const identity = entry.slice(at + 1).toLowerCase();
    if (at <= 0 || !PUBKEY.test(identity))
      throw new ContributionConfigError(
        'SHARD_CONTRIBUTOR_KEYS: each entry must be <api key>:<contributor public key, 64 hex>'
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
