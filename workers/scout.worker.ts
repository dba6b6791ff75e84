/**
 * Dedicated module worker that runs the browser scout's draft engines (service.ts), exposed to the
 * page with comlink. The libp2p node runs on the page (mesh-host.ts): no WebRTC in workers.
 * Every message from the page is checked at the edge first (worker-edge.ts).
 */
import { expose, type Endpoint } from 'comlink';
import { createScoutService } from './scout/browser/service.js';
import { guardEndpoint, guardScoutService } from './scout/browser/worker-edge.js';

expose(guardScoutService(createScoutService()), guardEndpoint(self as unknown as Endpoint));
