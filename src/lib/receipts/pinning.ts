/**
 * Trust on first use for receipt signers: the first time this browser talks to an oracle origin,
 * the Ed25519 key it advertises (`node_public_key` of /v1/capabilities) is pinned in IndexedDB.
 * From then on receipts verify only against the pinned key(s); a different advertised key is
 * shown as a warning and trusted only when the user accepts it. With no pin and no reachable
 * oracle, nothing vouches for the signer, and the page says so instead of trusting it.
 */
import { readPin, writePin, type SignerPin } from './store.js';

export type { SignerPin } from './store.js';

/** Where the signer of an origin stands. */
export type PinState =
  /** Pinned just now: the oracle's key was seen for the first time. */
  | { kind: 'first-use'; pin: SignerPin }
  /** The oracle advertises the pinned key. */
  | { kind: 'match'; pin: SignerPin }
  /** The oracle advertises a key this browser never accepted. */
  | { kind: 'changed'; pin: SignerPin; advertised: string }
  /** The oracle could not be asked; the pin stands. */
  | { kind: 'pinned-offline'; pin: SignerPin }
  /** No pin and no oracle to ask: nothing to check signers against. */
  | { kind: 'unknown' };

const HEX_KEY = /^[0-9a-f]{64}$/;

/**
 * Pure rule: the state for a stored `pin` (or null) and the key the oracle advertises now
 * (null when it could not be asked). `first-use` carries the pin to write.
 */
export function decidePin(
  origin: string,
  pin: SignerPin | null,
  advertised: string | null,
  nowMs: number
): PinState {
  const key =
    advertised && HEX_KEY.test(advertised.toLowerCase()) ? advertised.toLowerCase() : null;
  if (!pin) {
    if (!key) return { kind: 'unknown' };
    return {
      kind: 'first-use',
      pin: { origin, current_key: key, trusted_keys: [key], pinned_at_ms: nowMs }
    };
  }
  if (!key) return { kind: 'pinned-offline', pin };
  if (pin.trusted_keys.includes(key)) return { kind: 'match', pin };
  return { kind: 'changed', pin, advertised: key };
}

/** The keys receipts must be signed by, or null when there is no pin to check against. */
export function trustedKeys(state: PinState): string[] | null {
  return state.kind === 'unknown' ? null : state.pin.trusted_keys;
}

/**
 * Reads the pin of `origin`, decides against `advertised`, and writes the pin on first use.
 * Called whenever the page reads the oracle's capabilities. Throws when IndexedDB fails.
 */
export async function checkSigner(origin: string, advertised: string | null): Promise<PinState> {
  const state = decidePin(origin, await readPin(origin), advertised, Date.now());
  if (state.kind === 'first-use') await writePin(state.pin);
  return state;
}

/**
 * The user accepts the key the oracle now advertises (after a `changed` warning): it becomes
 * the current key and joins the trusted keys; earlier keys stay trusted for the receipts they
 * signed. Returns the new state (`match`).
 */
export async function acceptSigner(origin: string, key: string): Promise<PinState> {
  const pin = await readPin(origin);
  const lower = key.toLowerCase();
  const next: SignerPin = {
    origin,
    current_key: lower,
    trusted_keys: [...(pin?.trusted_keys ?? []).filter((k) => k !== lower), lower],
    pinned_at_ms: Date.now()
  };
  await writePin(next);
  return { kind: 'match', pin: next };
}
