/** Page-side scout rules: mobile detection (duty cycle) and the double-dip decision. */
import { describe, expect, it } from 'vitest';
import { decideDoubleDip, LOCAL_ORACLE_RTT_MS } from '../../src/lib/scout/double-dip.js';
import { MOBILE_DUTY_CYCLE, profileDevice } from '../../src/lib/scout/device.js';

const DESKTOP_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36';
const PHONE_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36';

describe('profileDevice', () => {
  it.each([
    { name: 'desktop', ua: DESKTOP_UA, w: 1920, h: 1080, mem: 16, isMobile: false, reasons: [] },
    {
      name: 'phone UA',
      ua: PHONE_UA,
      w: 1080,
      h: 2400,
      mem: 8,
      isMobile: true,
      reasons: ['mobile browser']
    },
    {
      name: 'small screen',
      ua: DESKTOP_UA,
      w: 390,
      h: 700,
      mem: 8,
      isMobile: true,
      reasons: ['small screen']
    },
    {
      name: 'screen 768 is not small',
      ua: DESKTOP_UA,
      w: 768,
      h: 600,
      mem: 8,
      isMobile: false,
      reasons: []
    },
    {
      name: 'low memory',
      ua: DESKTOP_UA,
      w: 1920,
      h: 1080,
      mem: 2,
      isMobile: true,
      reasons: ['2 GB memory']
    },
    {
      name: 'memory unknown',
      ua: DESKTOP_UA,
      w: 1920,
      h: 1080,
      mem: undefined,
      isMobile: false,
      reasons: []
    },
    {
      name: 'all three',
      ua: PHONE_UA,
      w: 390,
      h: 700,
      mem: 1,
      isMobile: true,
      reasons: ['mobile browser', 'small screen', '1 GB memory']
    }
  ])('$name', ({ ua, w, h, mem, isMobile, reasons }) => {
    const profile = profileDevice({
      userAgent: ua,
      screenWidth: w,
      screenHeight: h,
      deviceMemoryGb: mem,
      cores: 8
    });
    expect(profile.isMobile).toBe(isMobile);
    expect(profile.reasons).toEqual(reasons);
    expect(profile.dutyCycle).toBe(isMobile ? MOBILE_DUTY_CYCLE : 1);
    expect(profile.maxSessions).toBe(isMobile ? 1 : 2);
  });
});

describe('decideDoubleDip', () => {
  const endpoint = 'http://127.0.0.1:9091/health';
  it.each([
    { rttMs: 0.4, isHealthy: true, kind: 'local-oracle' },
    { rttMs: LOCAL_ORACLE_RTT_MS - 0.01, isHealthy: true, kind: 'local-oracle' },
    { rttMs: LOCAL_ORACLE_RTT_MS, isHealthy: true, kind: 'draft' },
    { rttMs: 35, isHealthy: true, kind: 'draft' },
    { rttMs: 0.4, isHealthy: false, kind: 'draft' },
    { rttMs: null, isHealthy: false, kind: 'draft' }
  ] as const)('rtt $rttMs ms, healthy $isHealthy -> $kind', ({ rttMs, isHealthy, kind }) => {
    const decision = decideDoubleDip({ endpoint, rttMs, isHealthy });
    expect(decision.kind).toBe(kind);
    expect(decision.reason.length).toBeGreaterThan(20);
    if (decision.kind === 'local-oracle') expect(decision.endpoint).toBe(endpoint);
  });
});
