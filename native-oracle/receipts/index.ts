/**
 * Receipt persistence for the oracle: the node's Ed25519 signing key (persisted in the data
 * dir) and the append-only SQLite receipt store. Hashing, signing rules and verification live
 * in src/lib/protocol/receipt-chain.ts so browsers verify with the same code.
 */
export {
  createReceiptStore,
  ORPHAN_REASON,
  type ReceiptStore,
  type ReceiptStoreOptions,
  type ExecutionIndexRow
} from './store.js';
export {
  createNodeSigner,
  loadOrCreateNodeSigner,
  nodeSha256,
  nodeVerifySignature,
  KEY_FILE_NAME,
  type NodeSigner
} from './keys.js';
export { encodeReceipt, decodeReceipt, encodeBodyJson } from './codec.js';
export {
  IdempotencyConflictError,
  NodeKeyError,
  ReceiptAppendError,
  ReceiptDecodeError
} from './errors.js';
