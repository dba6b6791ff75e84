/**
 * Page-side state of the chat page (Svelte 5 runes): the saved conversations, the open one, the
 * streaming reply and its Stop, and the oracle's health (for the test-model notice). One
 * controller per /chat page: `init()` on mount, `destroy()` on unmount.
 *
 * A send goes: 1. save the user's turn and an empty assistant turn; 2. stream the reply into that
 * turn; 3. save the turn with how it ended (complete, stopped or failed) and its `shard` stats;
 * 4. check its signed receipt and save the verdict.
 * Invariant: at most one reply streams at a time (`abort` is set exactly while it does).
 */
import { randomId } from '$lib/random-id.js';
import { apiFetch } from '$lib/api/api-key.svelte.js';
import { streamChat } from './client.js';
import { messageOf } from './errors.js';
import {
  openConversationStore,
  titleFrom,
  type Conversation,
  type ConversationStore,
  type ConversationSummary,
  type Turn
} from './store.js';
import { isGeneratedTestModel } from './test-model.js';
import { checkChatReceipt } from './receipt-check.js';
import { HealthSchema, type ChatRequestMessage, type Health } from '$lib/protocol/chat.js';

export const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant.';
/** Reply length asked for unless the user changes it (the oracle's own default is 256). */
export const DEFAULT_MAX_TOKENS = 256;
/** The oracle accepts up to 32768 (MAX_COMPLETION_TOKENS); its context size may cap it sooner. */
export const MAX_TOKENS_LIMIT = 4096;
const MAX_TOKENS_KEY = 'shard.chat.max-tokens';
const HEALTH_TIMEOUT_MS = 5_000;

/** An error shown beside the conversation-list item whose control caused it. */
export interface ItemError {
  id: string;
  message: string;
}

function newId(): string {
  return randomId();
}

function emptyConversation(systemPrompt = DEFAULT_SYSTEM_PROMPT): Conversation {
  const now = Date.now();
  return { id: newId(), title: '', systemPrompt, turns: [], createdAt: now, updatedAt: now };
}

/** The request's messages: the system prompt, then every turn with text (failed ones skipped). */
export function requestMessages(conversation: Conversation): ChatRequestMessage[] {
  const messages: ChatRequestMessage[] = [];
  const system = conversation.systemPrompt.trim();
  if (system !== '') messages.push({ role: 'system', content: system });
  for (const turn of conversation.turns) {
    if (turn.status === 'failed' || turn.status === 'streaming' || turn.content === '') continue;
    messages.push({ role: turn.role, content: turn.content });
  }
  return messages;
}

export class ChatController {
  conversations = $state<ConversationSummary[]>([]);
  current = $state<Conversation>(emptyConversation());
  /** False until the open conversation has been written to the store (first send). */
  isSaved = $state(false);
  input = $state('');
  maxTokens = $state(DEFAULT_MAX_TOKENS);
  isStreaming = $state(false);
  isReady = $state(false);
  health = $state<Health | null>(null);
  healthError = $state<string | null>(null);
  isTestModel = $derived(this.health !== null && isGeneratedTestModel(this.health));

  sendError = $state<string | null>(null);
  storeError = $state<string | null>(null);
  systemError = $state<string | null>(null);
  itemError = $state<ItemError | null>(null);

  private store: ConversationStore | null = null;
  private abort: AbortController | null = null;
  private pending: Promise<void> | null = null;
  private readonly onOnline = () => void this.readHealth();

  /** Called from the page's onMount: opens the store, the newest conversation and /health. */
  async init(): Promise<void> {
    const saved = Number(localStorage.getItem(MAX_TOKENS_KEY));
    if (Number.isInteger(saved) && saved >= 1 && saved <= MAX_TOKENS_LIMIT) this.maxTokens = saved;
    window.addEventListener('online', this.onOnline);
    void this.readHealth();
    try {
      this.store = await openConversationStore();
      await this.refreshList();
      const newest = this.conversations[0];
      if (newest) await this.open(newest.id);
    } catch (err) {
      this.storeError = messageOf(err);
    }
    this.isReady = true;
  }

  /** Called from the page's onDestroy: stops a running reply (the oracle stops generating). */
  destroy(): void {
    window.removeEventListener('online', this.onOnline);
    this.abort?.abort();
    this.store?.close();
  }

  /** Stops the reply that is streaming; what arrived so far is kept and marked stopped. */
  stop(): void {
    this.abort?.abort();
  }

  /** Starts a new, empty conversation (saved at its first message). */
  async startNew(): Promise<void> {
    await this.settle();
    this.current = emptyConversation(this.current.systemPrompt);
    this.isSaved = false;
    this.sendError = null;
  }

  /** Opens a saved conversation; works offline (it is read from this device). */
  async open(id: string): Promise<void> {
    await this.settle();
    this.itemError = null;
    try {
      const conversation = await this.store?.get(id);
      if (!conversation) {
        this.itemError = { id, message: 'This conversation could not be read.' };
        return;
      }
      this.current = conversation;
      this.isSaved = true;
      this.sendError = null;
    } catch (err) {
      this.itemError = { id, message: messageOf(err) };
    }
  }

  async rename(id: string, title: string): Promise<boolean> {
    this.itemError = null;
    try {
      await this.requireStore().rename(id, title);
      if (this.current.id === id) this.current.title = titleFrom(title);
      await this.refreshList();
      return true;
    } catch (err) {
      this.itemError = { id, message: messageOf(err) };
      return false;
    }
  }

  async remove(id: string): Promise<void> {
    this.itemError = null;
    try {
      if (this.current.id === id) await this.settle();
      await this.requireStore().remove(id);
      await this.refreshList();
      if (this.current.id === id) {
        this.current = emptyConversation(this.current.systemPrompt);
        this.isSaved = false;
      }
    } catch (err) {
      this.itemError = { id, message: messageOf(err) };
    }
  }

  /** Saves an edited system prompt; it applies to the next reply. */
  async saveSystemPrompt(): Promise<void> {
    this.systemError = null;
    if (!this.isSaved) return;
    try {
      await this.save();
    } catch (err) {
      this.systemError = messageOf(err);
    }
  }

  setMaxTokens(value: number): void {
    if (!Number.isInteger(value) || value < 1 || value > MAX_TOKENS_LIMIT) return;
    this.maxTokens = value;
    localStorage.setItem(MAX_TOKENS_KEY, String(value));
  }

  /** Sends the typed message and streams the reply into the conversation. */
  async send(): Promise<void> {
    const text = this.input.trim();
    this.sendError = null;
    if (this.isStreaming) return;
    if (text === '') {
      this.sendError = 'Type a message first.';
      return;
    }
    const conversation = this.current;
    if (conversation.title === '') conversation.title = titleFrom(text);
    conversation.turns.push({ id: newId(), role: 'user', content: text, atMs: Date.now() });
    const messages = requestMessages(conversation);
    conversation.turns.push({
      id: newId(),
      role: 'assistant',
      content: '',
      status: 'streaming',
      atMs: Date.now()
    });
    // The proxied turn: writes to it re-render the page as the text arrives.
    const turn = conversation.turns[conversation.turns.length - 1];
    this.input = '';
    this.abort = new AbortController();
    this.isStreaming = true;
    this.pending = this.run(messages, turn, this.abort.signal);
    await this.pending;
  }

  /** Steps 2 and 3 of a send: stream into `turn`, then save how it ended. */
  private async run(messages: ChatRequestMessage[], turn: Turn, signal: AbortSignal) {
    // Saved first, so a reload mid-reply keeps the question (the reply shows as interrupted).
    await this.trySave();
    try {
      const reply = await streamChat({
        messages,
        maxTokens: this.maxTokens,
        signal,
        onText: (text) => (turn.content += text)
      });
      turn.content = reply.text;
      turn.status = reply.isStopped ? 'stopped' : 'complete';
      turn.stats = reply.stats;
      turn.usage = reply.usage;
      turn.model = reply.model;
      turn.finishReason = reply.finishReason;
      // Saved before the receipt check (which fetches and verifies), so a reload right after
      // the reply ends keeps it; saved again below with the check's verdict.
      await this.trySave();
      const ref = reply.stats?.receipt;
      if (ref) turn.receipt = await checkChatReceipt(ref, { messages, output: reply.text });
    } catch (err) {
      turn.status = 'failed';
      turn.error = messageOf(err);
      this.sendError = turn.error;
    } finally {
      this.abort = null;
      this.isStreaming = false;
      this.pending = null;
    }
    await this.trySave();
  }

  /** Saves; a failure is shown beside Send, and the reply on screen stays. */
  private async trySave(): Promise<void> {
    try {
      await this.save();
    } catch (err) {
      this.sendError = messageOf(err);
    }
  }

  /** Stops a running reply and waits until it is saved. */
  private async settle(): Promise<void> {
    this.abort?.abort();
    await this.pending;
  }

  private requireStore(): ConversationStore {
    if (!this.store) throw new Error(this.storeError ?? 'The conversation store is not open.');
    return this.store;
  }

  private async save(): Promise<void> {
    if (!this.store) return;
    this.current.updatedAt = Date.now();
    await this.store.put($state.snapshot(this.current));
    this.isSaved = true;
    await this.refreshList();
  }

  private async refreshList(): Promise<void> {
    if (this.store) this.conversations = await this.store.list();
  }

  private async readHealth(): Promise<void> {
    try {
      const res = await apiFetch('/health', {
        cache: 'no-store',
        signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS)
      });
      const parsed = HealthSchema.safeParse(await res.json());
      if (!parsed.success) throw new Error('not a Shard oracle');
      this.health = parsed.data;
      this.healthError = null;
    } catch {
      this.healthError = navigator.onLine
        ? 'The oracle that serves this page does not answer, so replies cannot be sent now. Saved conversations still open.'
        : 'You are offline. Saved conversations open from this device; sending needs the oracle.';
    }
  }
}
