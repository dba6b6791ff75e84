/**
 * Receipt persistence for the oracle: the node's Ed25519 signing key and its keyring (persisted
 * in the data dir) and the append-only SQLite receipt store with signed chain heads and an
 * optional retention policy. Hashing, signing rules and verification live
 * in src/lib/protocol/receipt-chain.ts so browsers verify with the same code.
 */
export {
  createReceiptStore,
  isStorageFull,
  LOCAL_OWNER,
  parseRetentionDays,
  ORPHAN_REASON,
  PRUNE_INTERVAL_MS,
  RETENTION_ENV,
  type ReceiptStore,
  type ReceiptStoreOptions,
  type ExecutionIndexRow
} from './store.js';
export {
  createNodeSigner,
  loadOrCreateNodeSigner,
  rotateNodeKey,
  readKeyring,
  nodeSha256,
  nodeVerifySignature,
  KEY_FILE_NAME,
  KEYRING_FILE_NAME,
  RECEIPTS_FILE_NAME,
  type KeyringEntry,
  type NodeSigner
} from './keys.js';
export { encodeReceipt, decodeReceipt, encodeBodyJson } from './codec.js';
export {
  IdempotencyConflictError,
  NodeKeyError,
  ReceiptAppendError,
  ReceiptConfigError,
  ReceiptDecodeError,
  ReceiptStorageFullError,
  ReceiptStoreOpenError
} from './errors.js';
