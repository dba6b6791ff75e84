/**
 * Page-side PWA state: registers the service worker with workbox-window, tracks whether it
 * controls the page, and surfaces updates (a new version waiting, or one just activated) so the
 * layout can offer a reload. Browser only: call `registerServiceWorker()` from `onMount`.
 */
import { Workbox } from 'workbox-window';
import { dev } from '$app/environment';

/** Messages the service worker posts to open pages (see src/service-worker.ts). */
export type ServiceWorkerNotice = { type: 'sw:activated'; version: string };

class PwaState {
  /** True once a service worker controls this page (offline reloads work from then on). */
  isControlled = $state(false);
  /** True when a new version is installed and waits for the page to accept it. */
  isUpdateReady = $state(false);
  /** Version (build timestamp) of the service worker that announced itself last. */
  version = $state<string | null>(null);
  /** Plain-words reason when registration failed; null otherwise. */
  error = $state<string | null>(null);
  /** Mirrors navigator.onLine. */
  isOnline = $state(true);
}

export const pwa = new PwaState();

let workbox: Workbox | null = null;
/** Set when the user accepted a waiting update: the next controller change reloads the page. */
let isApplyingUpdate = false;

/**
 * Registers /service-worker.js once per page. Called from the root layout's onMount; a second
 * call is a no-op. Never throws: failures land in `pwa.error`.
 */
export async function registerServiceWorker(): Promise<void> {
  if (workbox || typeof navigator === 'undefined') return;
  pwa.isOnline = navigator.onLine;
  addEventListener('online', () => (pwa.isOnline = true));
  addEventListener('offline', () => (pwa.isOnline = false));
  if (!('serviceWorker' in navigator)) {
    pwa.error = 'This browser has no service workers, so Shard cannot work offline here.';
    return;
  }
  pwa.isControlled = navigator.serviceWorker.controller !== null;
  navigator.serviceWorker.addEventListener('controllerchange', () => (pwa.isControlled = true));
  navigator.serviceWorker.addEventListener(
    'message',
    (event: MessageEvent<ServiceWorkerNotice>) => {
      if (event.data?.type === 'sw:activated') pwa.version = event.data.version;
    }
  );

  // SvelteKit bundles the worker as an ES module in dev and a classic script in production.
  workbox = new Workbox('/service-worker.js', { type: dev ? 'module' : 'classic', scope: '/' });
  workbox.addEventListener('waiting', () => (pwa.isUpdateReady = true));
  workbox.addEventListener('controlling', () => {
    pwa.isControlled = true;
    // Reload only when the user accepted an update, never on the first install.
    if (isApplyingUpdate) location.reload();
  });
  try {
    await workbox.register();
  } catch (cause) {
    pwa.error = `The offline service worker could not be registered: ${String(cause)}`;
  }
}

/** Activates the waiting update; the `controlling` handler then reloads the page. */
export function applyUpdate(): void {
  isApplyingUpdate = true;
  workbox?.messageSkipWaiting();
}
