/**
 * Persistent libp2p identity for Node peers: a protobuf-encoded private key in a file (mode 0600),
 * created on first use so a relay keeps its peer id (and browsers their configured addresses)
 * across restarts.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The key file exists but does not hold a private key. */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

/** Reads the key at `path`, or generates an Ed25519 key and writes it there when absent. */
export async function loadOrCreateKey(
  path: string
): Promise<{ key: PrivateKey; isCreated: boolean }> {
  let bytes: Buffer | null = null;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (bytes) {
    try {
      return { key: privateKeyFromProtobuf(new Uint8Array(bytes)), isCreated: false };
    } catch (err) {
      throw new KeyFileError(`${path} is not a libp2p private key`, { cause: err });
    }
  }
  const key = await generateKeyPair('Ed25519');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' });
  return { key, isCreated: true };
}
