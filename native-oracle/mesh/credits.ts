/**
 * Credit hooks of the mesh: scouts earn contributor credit (native-oracle/contribution) for
 * work this oracle verified, never for anything they report.
 *
 * - Accepted draft tokens: per verify session, the draft tokens the target accepted from each
 *   scout's chain (`accepted_draft_tokens`, evidence `{ source: 'mesh', ref: '<session id>:<scout
 *   peer id>', rounds: 'first-last' }`, so a session is credited once per scout).
 * - Passed golden tickets (`golden_tickets_passed`, evidence `{ source: 'golden-ticket', ref:
 *   '<ticket session id>' }`).
 *
 * Identity: a scout's libp2p peer id is an Ed25519 key; its contributor identity is that public
 * key as 64 lowercase hex (the control plane's `signer_pubkey_hex` format), so a browser scout
 * earns credit under the key it already has and can sign `x-shard-contributor` with it. Peers with
 * other key types (never produced by the scouts here) earn nothing.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import type { CreditKind } from '../../src/lib/protocol/contribution.js';
import { createLogger } from '../../src/lib/server/log.js';

const log = createLogger('shard:oracle:mesh:credits');

/** Credits verified work to a contributor identity (the contribution service's `credit`). */
export type MeshCreditSink = (
  identity: string,
  kind: CreditKind,
  amount: number,
  evidence: { source: string; ref: string } & Record<string, unknown>
) => unknown;

/** The contributor identity (Ed25519 public key, 64 lowercase hex) of a scout's peer id; null for other keys. */
export function scoutIdentity(peerId: string): string | null {
  try {
    const key = peerIdFromString(peerId).publicKey;
    if (key?.type !== 'Ed25519') return null;
    return Buffer.from(key.raw).toString('hex');
  } catch {
    return null;
  }
}

/** Credits a scout; a failing sink is logged, never thrown into the verify path. */
export function creditScout(
  sink: MeshCreditSink | undefined,
  peerId: string,
  kind: CreditKind,
  amount: number,
  evidence: { source: string; ref: string } & Record<string, unknown>
): void {
  if (!sink || amount <= 0) return;
  const identity = scoutIdentity(peerId);
  if (!identity) return;
  try {
    sink(identity, kind, amount, evidence);
  } catch (err) {
    log.warn('crediting a scout failed', { scout: peerId, kind, error: err });
  }
}

/** Per-scout accepted tokens of one verify session, with the rounds they came from. */
export interface ScoutSessionWork {
  accepted: number;
  firstRound: number;
  lastRound: number;
}
