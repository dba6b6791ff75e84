/**
 * The SSRF guard of contributed endpoints: a node an untrusted contributor registered names a
 * URL this oracle will POST workflow prompts to, so that URL must not reach this machine or its
 * private network (loopback, link-local such as cloud metadata at 169.254.169.254, RFC 1918 and
 * other internal ranges). Checked twice: the URL's host when it is an IP literal, and every
 * address DNS gives for a name at connect time (undici's `connect.lookup`), so a name that
 * re-resolves to an internal address between check and connect (DNS rebinding) is refused too.
 * Operator-trusted contributors (SHARD_TRUSTED_CONTRIBUTORS) are exempt: a team's private node
 * on 10.0.0.5 is the point of the private tier.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent } from 'undici';

/** The ranges an untrusted endpoint may not resolve to. */
const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4] // reserved, broadcast
] as const)
  INTERNAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated): ::7f00:1 is 127.0.0.1 to some stacks
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8] // multicast
] as const)
  INTERNAL.addSubnet(net, prefix, 'ipv6');

/** True when `address` (an IP literal) is internal; IPv4-mapped IPv6 is checked as IPv4. */
export function isInternalAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return INTERNAL.check(mapped[1]!, 'ipv4');
  const family = isIP(bare);
  if (family === 0) return false;
  return INTERNAL.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Why an untrusted endpoint is refused before any request (`internal_address:<host>`, or
 * `localhost`), or null when its host is a public IP literal or a name (names are checked again
 * at connect time by guardedAgent).
 */
export function endpointRefusal(endpoint: string): string | null {
  const host = new URL(endpoint).hostname;
  if (host === 'localhost' || host.endsWith('.localhost')) return `internal_address:${host}`;
  return isInternalAddress(host) ? `internal_address:${host}` : null;
}

/** The error a guarded connection fails with; the remote executor reports its message. */
export class InternalAddressError extends Error {
  override name = 'InternalAddressError';
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number
) => void;

/** A resolver with dns.lookup's `all: true` shape (tests inject one). */
export type Resolver = (
  hostname: string,
  options: { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void
) => void;

/**
 * A `connect.lookup` that resolves with `resolve` (default dns.lookup) and fails with
 * InternalAddressError (code `EINTERNAL`) when ANY address of the name is internal: one bad
 * address is enough, since the connection may pick it.
 */
export function createGuardedLookup(resolve: Resolver = dnsLookup as unknown as Resolver) {
  return (hostname: string, options: object, callback: LookupCallback): void =>
    guardedLookup(resolve, hostname, options, callback);
}

function guardedLookup(
  resolve: Resolver,
  hostname: string,
  options: object,
  callback: LookupCallback
): void {
  resolve(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isInternalAddress(a.address));
    if (bad) {
      const refusal = new InternalAddressError(
        `internal_address:${hostname} resolves to ${bad.address}`
      ) as NodeJS.ErrnoException;
      refusal.code = 'EINTERNAL';
      return callback(refusal, []);
    }
    if ((options as { all?: boolean }).all) return callback(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}

let agent: Agent | undefined;

/** The shared undici dispatcher whose connections refuse internal addresses. */
export function guardedAgent(): Agent {
  agent ??= new Agent({ connect: { lookup: createGuardedLookup() as never } });
  return agent;
}
