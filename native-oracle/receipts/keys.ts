/**
 * The node's receipt-signing key: an Ed25519 key persisted in the data dir
 * (`<dataDir>/receipt-signing-key.json`, mode 0600), created on first start, and the keyring
 * (`<dataDir>/receipt-keyring.json`: public keys only) that remembers every key the node signed
 * with, so receipts signed before a rotation still verify. Signing uses node:crypto (about 20x
 * faster than pure JS here); Ed25519 is deterministic, so signatures are byte-identical to what
 * noble produces and the browser verifies them with noble.
 *
 * A missing key file is only created when the data dir holds no receipts: once receipts exist,
 * a new key would silently become a new identity under which every earlier receipt reads
 * `untrusted_signer`, so that case is an error that names the file.
 */
import Database from 'better-sqlite3';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject
} from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync
} from 'node:fs';
import { join } from 'node:path';
import type { ReceiptSigner, SignatureVerifier } from '../../src/lib/protocol/receipt-chain.js';
import { NodeKeyError } from './errors.js';

export const KEY_FILE_NAME = 'receipt-signing-key.json';
export const KEYRING_FILE_NAME = 'receipt-keyring.json';
/** The receipt store file in the data dir (the workflow runtime opens it there). */
export const RECEIPTS_FILE_NAME = 'receipts.sqlite';

// DER prefixes of PKCS#8 / SPKI wrappers around raw 32-byte Ed25519 keys (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface NodeSigner extends ReceiptSigner {
  readonly secretKey: Uint8Array;
}

/** Builds a signer from a raw 32-byte Ed25519 secret key (seed). */
export function createNodeSigner(secretKey: Uint8Array): NodeSigner {
  if (secretKey.length !== 32)
    throw new NodeKeyError(`Ed25519 secret key must be 32 bytes, got ${secretKey.length}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, Buffer.from(secretKey)]),
    format: 'der',
    type: 'pkcs8'
  });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKeyHex = spki.subarray(SPKI_PREFIX.length).toString('hex');
  return {
    publicKeyHex,
    secretKey,
    sign: (message) => new Uint8Array(nodeSign(null, message, privateKey))
  };
}

/** sha256 with node:crypto (same digest as noble's, several times faster on receipt-sized input). */
export const nodeSha256 = (bytes: Uint8Array): Uint8Array =>
  new Uint8Array(createHash('sha256').update(bytes).digest());

const publicKeys = new Map<string, KeyObject>();

/** Signature check with node:crypto (same result as noble's, faster). */
export const nodeVerifySignature: SignatureVerifier = (signature, message, publicKey) => {
  const hex = Buffer.from(publicKey).toString('hex');
  let key = publicKeys.get(hex);
  if (!key) {
    try {
      key = createPublicKey({
        key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKey)]),
        format: 'der',
        type: 'spki'
      });
    } catch {
      return false;
    }
    if (publicKeys.size > 1000) publicKeys.clear();
    publicKeys.set(hex, key);
  }
  try {
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
};

/** One key of the keyring: a public key and when it was created and retired. */
export interface KeyringEntry {
  public_key_hex: string;
  created_at_ms: number;
  /** Null for the current key. */
  retired_at_ms: number | null;
}

/**
 * Loads the node key from `<dataDir>/receipt-signing-key.json`, creating it (atomically, 0600)
 * when absent and the data dir holds no receipts yet. The signer's `previousPublicKeys` are the
 * retired keys of the keyring. Throws NodeKeyError when the file exists but is not a valid key
 * (a broken key file must never be silently replaced, since old receipts name the old key), and
 * when it is missing although receipts exist (restore it, or start a new identity on purpose).
 */
export function loadOrCreateNodeSigner(dataDir: string): NodeSigner {
  const file = join(dataDir, KEY_FILE_NAME);
  if (existsSync(file)) {
    const signer = readKeyFile(file);
    const keyring = readKeyring(dataDir) ?? [];
    if (!keyring.some((k) => k.public_key_hex === signer.publicKeyHex)) {
      // Key files written before the keyring existed: record the current key.
      writeKeyring(dataDir, [
        ...keyring,
        { public_key_hex: signer.publicKeyHex, created_at_ms: Date.now(), retired_at_ms: null }
      ]);
    }
    return withPrevious(signer, keyring);
  }
  const why = existingReceipts(dataDir);
  if (why) {
    throw new NodeKeyError(
      `the receipt signing key ${file} is missing, but ${why}. Earlier receipts verify only ` +
        `against that key: restore ${KEY_FILE_NAME} from a backup. To start a new identity on ` +
        `purpose, move ${join(dataDir, RECEIPTS_FILE_NAME)} (and ${KEYRING_FILE_NAME}) out of ` +
        'the data dir first; to change keys while keeping earlier receipts verifiable, restore ' +
        'the key and rotate it (--rotate-receipt-key).'
    );
  }
  mkdirSync(dataDir, { recursive: true });
  const signer = createNodeSigner(randomBytes(32));
  writeKeyFile(file, signer);
  const keyring = readKeyring(dataDir) ?? [];
  writeKeyring(dataDir, [
    ...keyring,
    { public_key_hex: signer.publicKeyHex, created_at_ms: Date.now(), retired_at_ms: null }
  ]);
  return withPrevious(signer, keyring);
}

/**
 * Key rotation: retires the current key (its public key stays in the keyring, so receipts it
 * signed still verify; its secret is overwritten) and creates a new current key. Returns both
 * public keys. Throws NodeKeyError when there is no valid current key to rotate.
 */
export function rotateNodeKey(
  dataDir: string,
  nowMs: number = Date.now()
): { previousPublicKeyHex: string; publicKeyHex: string } {
  const file = join(dataDir, KEY_FILE_NAME);
  if (!existsSync(file)) throw new NodeKeyError(`no receipt signing key to rotate at ${file}`);
  const old = readKeyFile(file);
  const keyring = (readKeyring(dataDir) ?? []).filter((k) => k.public_key_hex !== old.publicKeyHex);
  const next = createNodeSigner(randomBytes(32));
  // The keyring first: a crash between the two writes leaves the old key current and the new
  // one merely listed, never a current key missing from the keyring.
  writeKeyring(dataDir, [
    ...keyring,
    { public_key_hex: old.publicKeyHex, created_at_ms: nowMs, retired_at_ms: nowMs },
    { public_key_hex: next.publicKeyHex, created_at_ms: nowMs, retired_at_ms: null }
  ]);
  writeKeyFile(file, next);
  return { previousPublicKeyHex: old.publicKeyHex, publicKeyHex: next.publicKeyHex };
}

/** The keyring in `dataDir`; null when there is none. Throws NodeKeyError when unreadable. */
export function readKeyring(dataDir: string): KeyringEntry[] | null {
  const file = join(dataDir, KEYRING_FILE_NAME);
  if (!existsSync(file)) return null;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { keys?: KeyringEntry[] };
    const keys = parsed.keys ?? [];
    if (!Array.isArray(keys) || keys.some((k) => !/^[0-9a-f]{64}$/.test(k?.public_key_hex)))
      throw new Error('keys must be a list of { public_key_hex }');
    return keys;
  } catch (err) {
    throw new NodeKeyError(`${file} is not a valid keyring: ${(err as Error).message}`, {
      cause: err
    });
  }
}

function withPrevious(signer: NodeSigner, keyring: KeyringEntry[]): NodeSigner {
  const previousPublicKeys = keyring
    .map((k) => k.public_key_hex)
    .filter((k) => k !== signer.publicKeyHex);
  return { ...signer, previousPublicKeys };
}

function readKeyFile(file: string): NodeSigner {
  let parsed: { algorithm?: string; secret_key_hex?: string };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as typeof parsed;
  } catch (err) {
    throw new NodeKeyError(`${file} is not valid JSON`, { cause: err });
  }
  if (parsed.algorithm !== 'ed25519' || !/^[0-9a-f]{64}$/.test(parsed.secret_key_hex ?? '')) {
    throw new NodeKeyError(`${file} does not hold an ed25519 secret_key_hex`);
  }
  return createNodeSigner(Buffer.from(parsed.secret_key_hex!, 'hex'));
}

/** Writes `content` to `file` atomically (temp file, then rename) with mode 0600. */
function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

function writeKeyFile(file: string, signer: NodeSigner): void {
  writeAtomic(
    file,
    JSON.stringify(
      {
        version: 1,
        algorithm: 'ed25519',
        public_key_hex: signer.publicKeyHex,
        secret_key_hex: Buffer.from(signer.secretKey).toString('hex')
      },
      null,
      2
    )
  );
}

function writeKeyring(dataDir: string, keys: KeyringEntry[]): void {
  mkdirSync(dataDir, { recursive: true });
  writeAtomic(join(dataDir, KEYRING_FILE_NAME), JSON.stringify({ version: 1, keys }, null, 2));
}

/**
 * Why a new key must not be created in `dataDir` (receipts or a keyring exist), or null.
 * A receipt store that cannot be read counts as holding receipts: better to stop than to guess.
 */
function existingReceipts(dataDir: string): string | null {
  const keyring = readKeyring(dataDir);
  if (keyring && keyring.length > 0)
    return `${join(dataDir, KEYRING_FILE_NAME)} lists ${keyring.length} key(s) this node signed with`;
  const db = join(dataDir, RECEIPTS_FILE_NAME);
  if (!existsSync(db) || statSync(db).size === 0) return null;
  let conn: Database.Database | undefined;
  try {
    conn = new Database(db, { readonly: true, fileMustExist: true });
    const hasTable = conn
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'receipts'")
      .get();
    const count = hasTable
      ? (conn.prepare('SELECT COUNT(*) FROM receipts').pluck().get() as number)
      : 0;
    return count > 0 ? `${db} holds ${count} receipt(s) signed by it` : null;
  } catch (err) {
    return `${db} exists and cannot be read (${(err as Error).message})`;
  } finally {
    conn?.close();
  }
}
