/**
 * The mesh's trust policy in one place: it owns the ledger, the reference model and the ticket
 * auditor, says which scouts a scout floor admits, and turns bans into action (sessions end,
 * the ban is announced, signed, on `shard-work-result`) and announcements from trusted oracles
 * into bans here. The oracle mesh calls it at start, join, lease, release and gossip.
 */
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  encode,
  MAX_GOSSIP_BYTES,
  openBan,
  signBan,
  WORK_RESULT_TOPIC,
  type ScoutBan
} from '../../../src/lib/protocol/mesh.js';
import { modelsDir } from '../../../src/lib/server/data-dir.js';
import { createLogger } from '../../../src/lib/server/log.js';
import { readManifest } from '../../models/index.js';
import {
  DEFAULT_BAN_DURATION_HOURS,
  DEFAULT_GOLDEN_TICKET_RATE,
  DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
  DEFAULT_PROBATION_TICKETS,
  DEFAULT_REPUTATION_THRESHOLD
} from '../constants.js';
import type { OracleMeshOptions } from '../index.js';
import { creditScout } from '../credits.js';
import type { MeshNode } from '../node-peer.js';
import type { ScoutRecord, ScoutRegistry } from '../registry/index.js';
import type { ScoutLink } from '../scout-link.js';
import { TicketAuditor } from './auditor.js';
import type { BanEntry, ScoutFloor, TrustLedger } from './index.js';
import { loadTicketReference, type TicketReference } from './reference.js';

const log = createLogger('shard:oracle:mesh:trust');

/** Trust levels in order; a floor admits scouts at or above its level. */
const LEVEL = { banned: -1, probation: 0, reputable: 1, trusted: 2 } as const;
const FLOOR_LEVEL: Record<Exclude<ScoutFloor, 'none'>, number> = {
  any: LEVEL.probation,
  reputable: LEVEL.reputable,
  trusted: LEVEL.trusted
};

export interface MeshTrustComponents {
  node: Pick<MeshNode, 'services'>;
  privateKey: PrivateKey;
  peerId: string;
  registry: ScoutRegistry;
  ledger: TrustLedger;
  openLink(peerId: string, sessionId: string, signal: AbortSignal): Promise<ScoutLink>;
}

export class MeshTrust {
  readonly floor: ScoutFloor;
  readonly banDurationHours: number;
  private readonly trustedScouts: Set<string>;
  private readonly trustedOracles: Set<string>;
  private readonly auditor: TicketAuditor;
  private readonly reference: Promise<TicketReference | null>;
  private resolveReference!: (r: TicketReference | null) => void;

  constructor(
    private readonly components: MeshTrustComponents,
    private readonly options: OracleMeshOptions
  ) {
    this.floor = options.scoutFloor ?? 'reputable';
    this.banDurationHours = options.banDurationHours ?? DEFAULT_BAN_DURATION_HOURS;
    this.trustedScouts = new Set(options.trustedScouts ?? []);
    this.trustedOracles = new Set(options.trustedOracles ?? []);
    this.reference = new Promise((resolve) => (this.resolveReference = resolve));
    this.auditor = new TicketAuditor({
      registry: components.registry,
      ledger: components.ledger,
      reference: this.reference,
      openLink: components.openLink,
      onBan: (entry) => this.enforce(entry, true),
      goldenTicketRate: options.goldenTicketRate ?? DEFAULT_GOLDEN_TICKET_RATE,
      probationTickets: options.probationTickets ?? DEFAULT_PROBATION_TICKETS,
      reputationThreshold: options.reputationThreshold ?? DEFAULT_REPUTATION_THRESHOLD,
      minAttemptsBeforeBan: options.minAttemptsBeforeBan ?? DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
      k: options.draftLength ?? 8,
      lookahead: options.lookahead ?? options.draftLength ?? 8,
      seed: options.trustSeed,
      onTicketPassed: (peerId, ticketId) =>
        creditScout(options.credit, peerId, 'golden_tickets_passed', 1, {
          source: 'golden-ticket',
          ref: ticketId
        })
    });
  }

  /** Ban announcements from other oracles: applied (trusted signer) and ignored (untrusted). */
  readonly announcements = { applied: 0, ignored: 0 };

  get stats() {
    return this.auditor.stats;
  }

  /** Loads the reference model (tickets stay off, with a warning, when there is none). */
  async start(): Promise<void> {
    this.resolveReference(await this.loadReference());
  }

  async stop(): Promise<void> {
    this.auditor.stop();
    this.resolveReference(null);
    const reference = await this.reference;
    await reference?.dispose().catch((err: unknown) => log.debug('dispose failed', { error: err }));
  }

  /** `trusted`, `reputable`, `probation` or `banned`. */
  levelOf(peerId: string): keyof typeof LEVEL {
    if (this.components.ledger.isBanned(peerId)) return 'banned';
    if (this.trustedScouts.has(peerId)) return 'trusted';
    return this.auditor.isReputable(peerId) ? 'reputable' : 'probation';
  }

  /** Whether `floor` admits a scout (null for `none`: nobody). */
  admits(floor: ScoutFloor): ((record: ScoutRecord) => boolean) | null {
    if (floor === 'none') return null;
    const min = FLOOR_LEVEL[floor];
    return (record) => LEVEL[this.levelOf(record.peerId.toString())] >= min;
  }

  /** A scout was welcomed: probation tickets start unless the operator vouched for it. */
  onJoin(peerId: string): void {
    if (this.trustedScouts.has(peerId)) this.components.ledger.noteSeen(peerId);
    else this.auditor.onJoin(peerId);
  }

  /** A real session ended: its scouts are audited at the ticket rate. */
  onRealSessionEnd(peerIds: readonly string[]): void {
    for (const id of peerIds) this.auditor.onRealSessionEnd(id);
  }

  /** An operator's ban. */
  ban(peerId: string, reason: string, hours: number): BanEntry {
    const entry = this.components.ledger.ban({ peerId, reason, hours, source: 'operator' });
    this.enforce(entry, true);
    return entry;
  }

  /** Ends a banned scout's sessions and, for this oracle's own bans, announces them. */
  enforce(entry: BanEntry, isAnnounced: boolean): void {
    log.warn('scout banned', { scout: entry.peer_id, reason: entry.reason });
    this.components.registry.drop(entry.peer_id);
    if (isAnnounced) void this.announce(entry);
  }

  /** Publishes a signed ban on `shard-work-result`. */
  async announce(entry: BanEntry): Promise<void> {
    try {
      const message = await signBan(
        {
          oraclePeerId: this.components.peerId,
          scoutPeerId: entry.peer_id,
          reason: entry.reason,
          bannedAtMs: entry.banned_at,
          durationHours: entry.ban_duration_hours,
          failedAttempts: entry.failed_attempts
        },
        (data) => this.components.privateKey.sign(data)
      );
      await this.components.node.services.pubsub.publish(
        WORK_RESULT_TOPIC,
        encode(message, MAX_GOSSIP_BYTES)
      );
    } catch (err) {
      log.debug('ban announcement failed', { scout: entry.peer_id, error: err });
    }
  }

  /** A ban announced on gossip: applied when its signer is a trusted oracle, else logged. */
  async onAnnouncement(message: ScoutBan): Promise<BanEntry | null> {
    const payload = await openBan(message, (id) => {
      const key = peerIdFromString(id).publicKey;
      return key ? (d, s) => key.verify(d, s) : null;
    });
    if (payload.oraclePeerId === this.components.peerId) return null;
    if (!this.trustedOracles.has(payload.oraclePeerId)) {
      this.announcements.ignored += 1;
      log.info('ignored a ban from an untrusted oracle', {
        oracle: payload.oraclePeerId,
        scout: payload.scoutPeerId
      });
      return null;
    }
    const entry = this.components.ledger.ban({
      peerId: payload.scoutPeerId,
      reason: `announced by ${payload.oraclePeerId}: ${payload.reason}`,
      hours: payload.durationHours,
      bannedAt: payload.bannedAtMs,
      failedAttempts: payload.failedAttempts,
      source: payload.oraclePeerId
    });
    this.announcements.applied += 1;
    if (this.components.ledger.isBanned(entry.peer_id)) this.enforce(entry, false);
    return entry;
  }

  private async loadReference(): Promise<TicketReference | null> {
    const engine = this.options.engine;
    const path =
      this.options.draftModelPath === undefined
        ? await generatedDraftFor(engine)
        : this.options.draftModelPath;
    if (!path) {
      log.warn('no reference draft model: golden tickets are off, so no scout becomes reputable', {
        modelId: engine.modelId
      });
      return null;
    }
    try {
      const reference = await loadTicketReference({
        modelPath: path,
        corpus: this.options.ticketCorpus
      });
      if (reference.tokenizerFingerprint !== engine.tokenizerFingerprint) {
        log.warn('reference draft model has another tokenizer: golden tickets are off', { path });
        await reference.dispose();
        return null;
      }
      return reference;
    } catch (err) {
      log.warn('reference draft model did not load: golden tickets are off', { path, error: err });
      return null;
    }
  }
}

/**
 * The generated pair's draft for this target: a `*models.json` manifest in the models dir
 * whose target file is `modelId` and whose tokenizer is the engine's. Null when none.
 */
async function generatedDraftFor(engine: OracleMeshOptions['engine']): Promise<string | null> {
  const dir = modelsDir();
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.endsWith('models.json'))) {
    const manifest = await readManifest(join(dir, name));
    if (
      manifest &&
      basename(manifest.target.file).replace(/\.gguf$/i, '') === engine.modelId &&
      manifest.tokenizerFingerprint === engine.tokenizerFingerprint
    )
      return join(dir, manifest.draft.file);
  }
  return null;
}
