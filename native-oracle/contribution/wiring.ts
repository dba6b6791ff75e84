/**
 * How the oracle CLI wires contributors in: one control-plane service (its SQLite file in the
 * data dir) behind the `/v1/contribution/*` routes, the request identifier of earned priority
 * (signed header or mapped API key), the node key that signs step attestations, and the live
 * contributed nodes the workflow registry ranks as capacity.
 */
import { dataDir as defaultDataDir } from '../../src/lib/server/data-dir.js';
import type { ReceiptSigner } from '../../src/lib/protocol/receipt-chain.js';
import type { ContributorIdentifier } from '../admission/priority.js';
import type { Router } from '../http/router.js';
import { loadOrCreateNodeSigner } from '../receipts/index.js';
import {
  contributionPlugin,
  createContributionService,
  type ContributionService
} from './index.js';
import { createRequestIdentifier, type ContributorSettings } from './requests.js';

export interface ContributorWiring {
  service: ContributionService;
  /** The `/v1/contribution/*` plugin; closes the service when the server stops. */
  plugin: (router: Router) => { stop(): void };
  /** Spread into createOracleServer's options. */
  serverOptions: { identifyContributor: ContributorIdentifier; attestationSigner: ReceiptSigner };
}

/**
 * Opens the store (in the data dir of `env`) and loads (creating when needed) the node's receipt
 * key, with the operator's checked settings (config.ts: --trusted-contributors,
 * --contributor-keys). Throws what the store or key loader throw.
 */
export function createContributorWiring(
  settings: ContributorSettings,
  env: NodeJS.ProcessEnv = process.env
): ContributorWiring {
  const dir = defaultDataDir(env);
  const service = createContributionService({
    dataDir: dir,
    trustedContributors: settings.trustedContributors
  });
  return {
    service,
    plugin: contributionPlugin({ service, closeOnStop: true }),
    serverOptions: {
      identifyContributor: createRequestIdentifier(service, settings.apiKeyContributors),
      attestationSigner: loadOrCreateNodeSigner(dir)
    }
  };
}
