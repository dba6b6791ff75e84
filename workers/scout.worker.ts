/** Dedicated module worker that runs the browser scout (engine + libp2p), exposed with comlink. */
import { expose } from 'comlink';
import { createScoutService } from './scout/browser/service.js';

expose(createScoutService());
