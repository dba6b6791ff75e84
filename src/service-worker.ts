/// <reference types="@sveltejs/kit" />
/// <reference no-default-lib="true"/>
/// <reference lib="esnext" />
/// <reference lib="webworker" />
/**
 * Shard's service worker (bundled by SvelteKit, registered by the page with workbox-window).
 *
 * 1. Precaches the app shell (built JS/CSS, static files, prerendered pages) so a reload while
 *    offline still shows the app; client-side routes fall back to the cached shell.
 * 2. API paths (/v1, /health, /metrics) are not handled here at all, so they go straight to the
 *    network and are never cached: answers, receipts and health must be live (and the scout's
 *    /health round-trip probe measures the network, not this worker).
 * 3. Model files under /models/ are cache-first, so a returning scout starts without a download.
 * 4. Tells open pages when a new version activated; activates a waiting version on request.
 *
 * A service worker cannot run the draft engine (no Worker, no WASM threads here): the page owns a
 * dedicated worker for that. This file only caches and coordinates.
 */
import { build, files, prerendered, version } from '$service-worker';
import {
  cleanupOutdatedCaches,
  createHandlerBoundToURL,
  precacheAndRoute
} from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { CacheFirst } from 'workbox-strategies';
// Model files are kept across app versions, in the cache the scout worker also fills.
import { MODEL_CACHE_NAME } from '$workers/scout/browser/model-download.js';

const sw = self as unknown as ServiceWorkerGlobalScope;

/** Paths that are live APIs: never cached, never answered with the app shell. */
const API_PATH = /^\/(v1\/|health$|metrics)/;
const MODEL_PATH = /^\/models\/[^/]+\.gguf$/;

// Hashed build output is immutable (its URL changes with content); everything else is revisioned
// by the build version so an update replaces it.
const shellUrls = new Set(['/', ...prerendered, ...build, ...files]);
precacheAndRoute(
  [...shellUrls].map((url) => ({
    url,
    revision: url.includes('/_app/immutable/') ? null : version
  }))
);
cleanupOutdatedCaches();

registerRoute(
  ({ url }) => url.origin === sw.location.origin && MODEL_PATH.test(url.pathname),
  new CacheFirst({ cacheName: MODEL_CACHE_NAME })
);

// Any other navigation gets the cached app shell (adapter-static's fallback index.html), which
// renders the route on the client: a path with no page of its own, or a page opened with a query
// string, such as /provenance?execution_id=… (the precache matches URLs with their query).
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('/'), { denylist: [API_PATH, /^\/models\//] })
);

sw.addEventListener('message', (event) => {
  if (event.data?.type === 'SKIP_WAITING') void sw.skipWaiting();
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      // Take control of already-open pages so the first visit is offline-capable without a reload.
      await sw.clients.claim();
      const pages = await sw.clients.matchAll({ type: 'window' });
      for (const page of pages) page.postMessage({ type: 'sw:activated', version });
    })()
  );
});
