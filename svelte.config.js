import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/**
 * The PWA is a static SvelteKit app (adapter-static) served by the oracle process, so app and
 * API share one origin (http://127.0.0.1:9091 by default).
 * @type {import('@sveltejs/kit').Config}
 */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
    alias: {
      $protocol: 'src/lib/protocol',
      $workers: 'workers'
    },
    serviceWorker: { register: false }
  }
};

export default config;
