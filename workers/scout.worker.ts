/**
 * Dedicated module worker that runs the browser scout's draft engines (service.ts), exposed to the
 * page with comlink. The libp2p node runs on the page (mesh-host.ts): no WebRTC in workers.
 */
import { expose } from 'comlink';
import { createScoutService } from './scout/browser/service.js';

expose(createScoutService());
