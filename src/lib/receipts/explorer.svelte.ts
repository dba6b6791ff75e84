/**
 * Page-side state of the provenance explorer (Svelte 5 runes). One per /provenance page:
 *
 *  1. On mount: lists the executions saved in this browser (IndexedDB), reads the oracle's
 *     capabilities and signer key, and pins or checks that key (pinning.ts).
 *  2. A brief submitted from the page is followed live (SSE); an execution opened by id is read
 *     from the oracle, or from this browser's copy when the oracle cannot be reached.
 *  3. Every chain is verified here with the pinned key(s); a chain whose signatures hold is saved
 *     (store.ts), never over a different saved copy (that difference is shown instead).
 */
import { randomId } from '$lib/random-id.js';
import { apiFetch } from '$lib/api/api-key.svelte.js';
import { readEventStream } from '$lib/api/sse-reader.js';
import { verifyReceiptChain, type ChainVerification } from '$lib/protocol/receipt-chain.js';
import { summarizeExecution } from '$lib/protocol/provenance.js';
import {
  ExecutionReceiptSchema,
  type CapabilityDescriptor,
  type ExecutionReceipt,
  type ExecutionSummary
} from '$lib/protocol/receipts.js';
import { acceptSigner, checkSigner, trustedKeys, type PinState } from './pinning.js';
import { plainOracleError, type FormField } from './brief-form.js';
import { bySeq, sourceTitles } from './steps.js';
import {
  listSavedExecutions,
  loadSavedReceipts,
  saveExecution,
  savedExecution,
  type StoredExecution
} from './store.js';

/** Where the receipts on screen came from. */
export type ReceiptOrigin = 'live' | 'oracle' | 'saved';

export interface ExplorerErrors {
  /** Beside the form control at fault (or the Run button). */
  form: { field: FormField; message: string } | null;
  /** Beside the Load control and the history list. */
  load: string | null;
  /** In the execution card: the live stream or a receipt it could not read. */
  stream: string | null;
  /** In the side panel: the oracle's capabilities or list could not be read. */
  side: string | null;
}

/** Checks one receipt as received; returns it untouched (the signature covers the raw object). */
export function checkReceipt(
  raw: unknown
): { ok: true; receipt: ExecutionReceipt } | { ok: false; detail: string } {
  const parsed = ExecutionReceiptSchema.safeParse(raw);
  if (parsed.success) return { ok: true, receipt: raw as ExecutionReceipt };
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length > 0 ? `field ${issue.path.map(String).join('.')}` : 'it';
  return { ok: false, detail: `${where}: ${issue.message}` };
}

class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly detail: string | null
  ) {
    super(detail ?? `HTTP ${status}`);
  }
}

async function getJson(path: string): Promise<Record<string, unknown>> {
  const res = await apiFetch(path, { headers: { accept: 'application/json' } });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok || json.ok === false)
    throw new HttpError(res.status, typeof json.detail === 'string' ? json.detail : null);
  return json;
}

/** True for a fetch that never reached the oracle (offline, refused, DNS). */
const isUnreachable = (err: unknown) => (err as Error)?.name === 'TypeError';

export class ProvenanceExplorer {
  receipts = $state.raw<ExecutionReceipt[]>([]);
  /** Titles known for the open execution (from the form or the saved record). */
  knownTitles = $state.raw<Record<string, string>>({});
  executionId = $state('');
  openedFrom = $state<ReceiptOrigin | null>(null);
  isRunning = $state(false);
  isLoading = $state(false);
  errors = $state<ExplorerErrors>({ form: null, load: null, stream: null, side: null });
  pin = $state.raw<PinState | null>(null);
  capabilities = $state.raw<CapabilityDescriptor[]>([]);
  recent = $state.raw<ExecutionSummary[]>([]);
  /** Executions saved in this browser, newest first. */
  savedList = $state.raw<StoredExecution[]>([]);
  /** Seq where the oracle's copy departs from this browser's saved copy, or null. */
  conflictAtSeq = $state<number | null>(null);
  savedAtMs = $state<number | null>(null);
  selectedId = $state<string | null>(null);
  /** The last failed receipt's reason, once the execution ended in failure. */
  failureDetail = $state<string | null>(null);

  ordered = $derived(bySeq(this.receipts));
  summary = $derived(summarizeExecution(this.receipts));
  titles = $derived(sourceTitles(this.receipts, this.knownTitles));
  /** Chain, signatures, and signer against the pinned key(s) when there is a pin. */
  verification = $derived<ChainVerification | null>(
    this.receipts.length === 0 ? null : verifyReceiptChain(this.ordered, this.trustedKeysOrEmpty())
  );
  selected = $derived(this.ordered.find((r) => r.receipt_id === this.selectedId) ?? null);

  /** Called after a live run or a load settles (the page scrolls to the result). */
  onSettled: (() => void) | null = null;
  private stream: AbortController | null = null;
  /** The oracle's origin (app and API share it): the key the signer pin is kept under. */
  private origin = '';

  private trustedKeysOrEmpty(): { trustedKeys?: string[] } {
    const keys = this.pin ? trustedKeys(this.pin) : null;
    return keys ? { trustedKeys: keys } : {};
  }

  /** Called from onMount: history, capabilities and the signer pin, then `executionId` if any. */
  async init(options: { origin: string; executionId: string | null }): Promise<void> {
    this.origin = options.origin;
    const executionId = options.executionId;
    await this.refreshHistory();
    const side = this.refreshSide();
    if (executionId) await Promise.all([side, this.load(executionId)]);
    else await side;
  }

  /** Closes the live stream (page destroyed). */
  destroy(): void {
    this.stream?.abort();
    this.stream = null;
  }

  async refreshHistory(): Promise<void> {
    try {
      this.savedList = await listSavedExecutions();
    } catch (err) {
      this.errors.load = `This browser cannot keep receipts (IndexedDB: ${(err as Error).message}).`;
    }
  }

  /** Reads capabilities, the signer key (pinned or checked) and the oracle's recent executions. */
  async refreshSide(): Promise<void> {
    let advertised: string | null = null;
    try {
      const caps = await getJson('/v1/capabilities');
      this.capabilities = (caps.capabilities as CapabilityDescriptor[]) ?? [];
      advertised = typeof caps.node_public_key === 'string' ? caps.node_public_key : null;
      this.recent =
        ((await getJson('/v1/executions?limit=10')).executions as ExecutionSummary[]) ?? [];
      this.errors.side = null;
    } catch (err) {
      this.errors.side = isUnreachable(err)
        ? 'The oracle cannot be reached. Executions saved in this browser still open and verify.'
        : `The oracle did not list its capabilities (${(err as Error).message}).`;
    }
    try {
      this.pin = await checkSigner(this.origin, advertised);
    } catch (err) {
      this.errors.side = `The signer key cannot be pinned in this browser (${(err as Error).message}).`;
    }
  }

  /** The user trusts the key the oracle now advertises (after a change warning). */
  async acceptNewKey(): Promise<void> {
    if (this.pin?.kind !== 'changed') return;
    this.pin = await acceptSigner(this.origin, this.pin.advertised);
  }

  select(receiptId: string | null): void {
    this.selectedId = receiptId;
  }

  /** Opens an execution: from the oracle, or this browser's copy when the oracle is out of reach. */
  async load(rawId: string): Promise<void> {
    const id = rawId.trim();
    if (!id) return;
    this.errors.load = null;
    this.errors.stream = null;
    this.isLoading = true;
    try {
      const json = await getJson(`/v1/executions/${encodeURIComponent(id)}/receipts`);
      const checked = (json.receipts as unknown[]).map(checkReceipt);
      const bad = checked.findIndex((c) => !c.ok);
      if (bad >= 0) {
        const c = checked[bad] as { detail: string };
        throw new Error(`receipt ${bad} of the oracle's answer is not a receipt (${c.detail})`);
      }
      const receipts = checked.map((c) => (c as { receipt: ExecutionReceipt }).receipt);
      await this.show(id, receipts, 'oracle');
      if (summarizeExecution(receipts)?.status === 'running') this.follow(id, this.knownTitles);
      else await this.settle();
    } catch (err) {
      const isGone = err instanceof HttpError && err.status === 404;
      if (isUnreachable(err) || isGone) {
        const opened = await this.openSaved(id);
        if (!opened)
          this.errors.load = isGone
            ? `The oracle has no execution “${id}”, and this browser has not saved one.`
            : `The oracle cannot be reached and this browser has not saved “${id}”.`;
        else if (isGone)
          this.errors.load =
            'The oracle no longer has this execution; this is the copy saved in this browser.';
      } else {
        this.errors.load = `This execution could not be opened: ${(err as Error).message}.`;
      }
    } finally {
      this.isLoading = false;
    }
  }

  /** Opens this browser's saved copy; false when there is none. */
  async openSaved(id: string): Promise<boolean> {
    const receipts = await loadSavedReceipts(id).catch(() => []);
    if (receipts.length === 0) return false;
    await this.show(id, receipts, 'saved');
    this.onSettled?.();
    return true;
  }

  private async show(id: string, receipts: ExecutionReceipt[], from: ReceiptOrigin): Promise<void> {
    this.stream?.abort();
    const saved = await savedExecution(id).catch(() => null);
    this.executionId = id;
    this.knownTitles = saved?.source_titles ?? {};
    this.savedAtMs = saved?.saved_at_ms ?? null;
    this.conflictAtSeq = null;
    this.selectedId = null;
    this.failureDetail = null;
    this.receipts = receipts;
    this.openedFrom = from;
    window.history.replaceState(
      window.history.state,
      '',
      `?execution_id=${encodeURIComponent(id)}`
    );
  }

  /** Sends a checked brief; follows its receipts live. Errors land beside the Run button. */
  async submit(body: Record<string, unknown>, titles: Record<string, string>): Promise<void> {
    this.errors.form = null;
    this.isRunning = true;
    try {
      const res = await apiFetch('/v1/agents/tasks', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomId() },
        body: JSON.stringify(body)
      });
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (res.status !== 202)
        throw new Error(
          plainOracleError(res.status, typeof json.detail === 'string' ? json.detail : null)
        );
      this.follow(json.execution_id as string, titles);
    } catch (err) {
      this.isRunning = false;
      this.errors.form = {
        field: 'submit',
        message: isUnreachable(err)
          ? 'The oracle cannot be reached, so the brief was not sent. Check the connection and run it again.'
          : (err as Error).message
      };
    }
  }

  /** Shows an execution's receipts as they are appended (Server-Sent Events), until it ends. */
  follow(id: string, titles: Record<string, string>): void {
    this.stream?.abort();
    this.executionId = id;
    this.knownTitles = titles;
    this.receipts = [];
    this.failureDetail = null;
    this.conflictAtSeq = null;
    this.selectedId = null;
    this.openedFrom = 'live';
    this.errors.stream = null;
    this.isRunning = true;
    window.history.replaceState(
      window.history.state,
      '',
      `?execution_id=${encodeURIComponent(id)}`
    );
    const controller = new AbortController();
    this.stream = controller;
    void this.readStream(id, controller.signal);
  }

  /** Reads the execution's event stream (through apiFetch, so it carries the API key). */
  private async readStream(id: string, signal: AbortSignal): Promise<void> {
    let hasEnded = false;
    try {
      const res = await apiFetch(`/v1/executions/${encodeURIComponent(id)}/events`, {
        headers: { accept: 'text/event-stream' },
        cache: 'no-store',
        signal
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      await readEventStream(res, (e) => {
        if (e.event === 'receipt') this.onStreamReceipt(e.data);
        hasEnded = e.event === 'end';
        return hasEnded;
      });
    } catch {
      // An abort (page left, another execution followed) or a broken stream: handled below.
    }
    if (signal.aborted) return;
    this.isRunning = false;
    if (hasEnded) {
      void this.settle();
      void this.refreshSide();
      return;
    }
    this.errors.stream =
      'The connection to the oracle dropped before the brief finished; open it again from the history to see the rest.';
  }

  /** One `receipt` event: appended when it reads as a receipt, reported when it does not. */
  private onStreamReceipt(data: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      raw = Symbol('not json');
    }
    const checked =
      typeof raw === 'symbol'
        ? { ok: false as const, detail: 'it is not JSON' }
        : checkReceipt(raw);
    if (!checked.ok) {
      // Left out rather than shown half-read; a gap in the middle then fails the chain check.
      this.errors.stream = `The oracle sent a receipt this page cannot read, so it is not shown (${checked.detail}).`;
      return;
    }
    this.receipts = [...this.receipts, checked.receipt];
  }

  /** After a run or a load: failure detail, save (when the signatures hold), history, scroll. */
  private async settle(): Promise<void> {
    const last = this.ordered.at(-1);
    this.failureDetail = last?.event_kind === 'failed' ? (last.failure_reason ?? null) : null;
    const chain = verifyReceiptChain(this.ordered);
    if (chain.ok && this.ordered.length > 0) {
      try {
        const { conflictAtSeq } = await saveExecution({
          origin: this.origin,
          receipts: this.ordered,
          sourceTitles: this.knownTitles
        });
        this.conflictAtSeq = conflictAtSeq;
        if (conflictAtSeq === null) this.savedAtMs = Date.now();
      } catch (err) {
        this.errors.load = `These receipts could not be saved in this browser (${(err as Error).message}).`;
      }
      await this.refreshHistory();
    }
    this.onSettled?.();
  }
}
