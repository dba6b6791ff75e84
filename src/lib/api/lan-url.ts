/**
 * Whether a page's hostname is this machine's loopback (`localhost`, 127.0.0.0/8, `::1`): a
 * phone cannot open such an address, so the home page offers a LAN address only for other names.
 */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\./.test(h);
}
