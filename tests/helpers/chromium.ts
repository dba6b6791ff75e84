/**
 * How the tests and benchmarks launch Debian's Chromium (never a downloaded browser). The flags
 * keep it off the network (this machine only reaches loopback) and let two local peers see each
 * other's WebRTC candidates without mDNS.
 */
export const CHROMIUM_PATH = process.env.SHARD_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns'
];
