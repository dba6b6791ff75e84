/**
 * The API key this app sends to the oracle that serves it. An oracle started with
 * `SHARD_API_KEYS` answers 401 to requests without a valid key; the app then asks for one once
 * (the dialog in the layout, reachable from every page), keeps it in this origin's localStorage,
 * and sends it on every API call as `Authorization: Bearer <key>` (apiFetch, and the SSE
 * readers built on it). A key the oracle refuses is reported in plain words and can be changed.
 */

/** localStorage entry holding the key (per origin, like all localStorage). */
export const API_KEY_STORAGE_KEY = 'shard.api-key';

/** Why the dialog asks for a key: the oracle wants one and none was sent, or it refused ours. */
export type KeyProblem = 'missing' | 'refused' | null;

class ApiKeyState {
  /** The key sent with API calls; null when none is kept. */
  key = $state<string | null>(null);
  /** Set by apiFetch on a 401; cleared when a key is saved. */
  problem = $state<KeyProblem>(null);
  /** Whether the key dialog is open (opened by a 401 or by the header's button). */
  isDialogOpen = $state(false);
}

/** The app's one key state, shared by every page. */
export const apiKey = new ApiKeyState();

/** Reads the kept key (called once from the layout; safe where storage is unavailable). */
export function loadApiKey(): string | null {
  try {
    apiKey.key = localStorage.getItem(API_KEY_STORAGE_KEY) || null;
  } catch {
    apiKey.key = null;
  }
  return apiKey.key;
}

/** Keeps `key` (trimmed; empty removes it) and closes the dialog. */
export function saveApiKey(key: string): void {
  const value = key.trim();
  apiKey.key = value === '' ? null : value;
  try {
    if (apiKey.key) localStorage.setItem(API_KEY_STORAGE_KEY, apiKey.key);
    else localStorage.removeItem(API_KEY_STORAGE_KEY);
  } catch {
    // Private browsing may refuse storage: the key still works until the page closes.
  }
  apiKey.problem = null;
  apiKey.isDialogOpen = false;
}

/** The headers that carry the key; {} when none is kept. */
export function authHeaders(): Record<string, string> {
  return apiKey.key ? { authorization: `Bearer ${apiKey.key}` } : {};
}

/**
 * fetch() for the oracle's API: adds the key, and on 401 records why (no key sent, or the key
 * was refused) and opens the key dialog. Returns the response unchanged.
 */
export async function apiFetch(input: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const sent = apiKey.key;
  if (sent && !headers.has('authorization')) headers.set('authorization', `Bearer ${sent}`);
  const res = await fetch(input, { ...init, headers });
  if (res.status === 401) {
    apiKey.problem = sent ? 'refused' : 'missing';
    apiKey.isDialogOpen = true;
  }
  return res;
}
