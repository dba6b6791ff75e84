/**
 * Conversations kept on this device in IndexedDB (through `idb`), so they survive reloads and
 * open offline. One object store keyed by conversation id, indexed by last update. What is read
 * back is validated like any other untrusted input: a record that does not parse is skipped
 * (and logged), never shown half-broken.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { z } from 'zod';
import { ShardStatsSchema, UsageSchema } from '$lib/protocol/chat.js';
import { ConversationStoreError, messageOf } from './errors.js';
import { TurnReceiptSchema } from './receipt-check.js';

export const CHAT_DB_NAME = 'shard-chat';
const CHAT_DB_VERSION = 1;
const STORE = 'conversations';
/** Longest conversation title kept, in characters. */
export const MAX_TITLE_CHARS = 80;

const TurnSchema = z.object({
  id: z.string(),
  role: z.enum(['user', 'assistant']),
  content: z.string(),
  /** Assistant turns: how the reply ended. */
  status: z.enum(['streaming', 'complete', 'stopped', 'failed']).optional(),
  stats: ShardStatsSchema.nullish(),
  usage: UsageSchema.nullish(),
  model: z.string().nullish(),
  finishReason: z.string().nullish(),
  error: z.string().nullish(),
  /** Assistant turns: the answer's signed receipt as checked in this browser (receipt-check.ts). */
  receipt: TurnReceiptSchema.nullish(),
  atMs: z.number()
});
export type Turn = z.infer<typeof TurnSchema>;

const ConversationSchema = z.object({
  id: z.string(),
  title: z.string(),
  systemPrompt: z.string(),
  turns: z.array(TurnSchema),
  createdAt: z.number(),
  updatedAt: z.number()
});
export type Conversation = z.infer<typeof ConversationSchema>;

/** What the conversation list shows. */
export interface ConversationSummary {
  id: string;
  title: string;
  updatedAt: number;
  turns: number;
}

interface ChatDB extends DBSchema {
  [STORE]: { key: string; value: Conversation; indexes: { updatedAt: number } };
}

export interface ConversationStore {
  /** Newest first. */
  list(): Promise<ConversationSummary[]>;
  get(id: string): Promise<Conversation | null>;
  /** Inserts or replaces the whole conversation. */
  put(conversation: Conversation): Promise<void>;
  /** Renames; throws ConversationStoreError when the title is empty or the id unknown. */
  rename(id: string, title: string): Promise<void>;
  remove(id: string): Promise<void>;
  close(): void;
}

/** A title from the first words of a message. */
export function titleFrom(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= MAX_TITLE_CHARS ? flat : `${flat.slice(0, MAX_TITLE_CHARS - 1)}…`;
}

function wrap(action: string, err: unknown): ConversationStoreError {
  return new ConversationStoreError(
    `Could not ${action} on this device (${messageOf(err)}). Private browsing or a full disk can cause this.`,
    { cause: err }
  );
}

/** Opens (creating or upgrading) the store; throws ConversationStoreError when IndexedDB fails. */
export async function openConversationStore(): Promise<ConversationStore> {
  let db: IDBPDatabase<ChatDB>;
  try {
    db = await openDB<ChatDB>(CHAT_DB_NAME, CHAT_DB_VERSION, {
      upgrade(database) {
        const store = database.createObjectStore(STORE, { keyPath: 'id' });
        store.createIndex('updatedAt', 'updatedAt');
      }
    });
  } catch (err) {
    throw wrap('open the saved conversations', err);
  }
  const parse = (value: unknown): Conversation | null => {
    const parsed = ConversationSchema.safeParse(value);
    if (parsed.success) return parsed.data;
    console.warn('shard:app:chat skipped an unreadable saved conversation', parsed.error.issues[0]);
    return null;
  };
  return {
    async list() {
      try {
        const all = await db.getAllFromIndex(STORE, 'updatedAt');
        return all
          .map(parse)
          .filter((c): c is Conversation => c !== null)
          .reverse()
          .map((c) => ({
            id: c.id,
            title: c.title,
            updatedAt: c.updatedAt,
            turns: c.turns.length
          }));
      } catch (err) {
        throw wrap('read the saved conversations', err);
      }
    },
    async get(id) {
      try {
        const value = await db.get(STORE, id);
        return value === undefined ? null : parse(value);
      } catch (err) {
        throw wrap('open this conversation', err);
      }
    },
    async put(conversation) {
      try {
        await db.put(STORE, ConversationSchema.parse(conversation));
      } catch (err) {
        throw wrap('save this conversation', err);
      }
    },
    async rename(id, title) {
      const clean = titleFrom(title);
      if (clean === '') throw new ConversationStoreError('A conversation needs a name.');
      try {
        const tx = db.transaction(STORE, 'readwrite');
        const current = await tx.store.get(id);
        if (!current) throw new ConversationStoreError('This conversation no longer exists.');
        await tx.store.put({ ...current, title: clean });
        await tx.done;
      } catch (err) {
        if (err instanceof ConversationStoreError) throw err;
        throw wrap('rename this conversation', err);
      }
    },
    async remove(id) {
      try {
        await db.delete(STORE, id);
      } catch (err) {
        throw wrap('delete this conversation', err);
      }
    },
    close() {
      db.close();
    }
  };
}
