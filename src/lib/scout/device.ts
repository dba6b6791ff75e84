/**
 * Device detection for the browser scout: phones and small or low-memory devices draft with a
 * smaller duty cycle so scouting does not drain the battery or stall the page.
 * Rule (from the predecessor, kept): mobile UA, OR max(screen width, height) < 768, OR
 * navigator.deviceMemory < 4 GB.
 */

export interface DeviceProfile {
  isMobile: boolean;
  /** Why the device counts as mobile (empty when it does not). */
  reasons: string[];
  cores: number;
  /** GB, when the browser tells (Chromium only). */
  deviceMemoryGb: number | null;
  /** Fraction of time the draft engine may work. */
  dutyCycle: number;
  /** Verify sessions served at once. */
  maxSessions: number;
}

/** User-agent words that mark a phone or tablet browser. */
const MOBILE_UA = /android|webos|iphone|ipad|ipod|blackberry|windows phone|mobile/i;
/** Duty cycle on mobile devices; desktops draft whenever asked. */
export const MOBILE_DUTY_CYCLE = 0.5;

export interface DeviceSignals {
  userAgent: string;
  screenWidth: number;
  screenHeight: number;
  deviceMemoryGb?: number;
  cores?: number;
}

/** Pure decision from the signals (unit-tested). */
export function profileDevice(signals: DeviceSignals): DeviceProfile {
  const reasons: string[] = [];
  if (MOBILE_UA.test(signals.userAgent)) reasons.push('mobile browser');
  if (Math.max(signals.screenWidth, signals.screenHeight) < 768) reasons.push('small screen');
  if (signals.deviceMemoryGb !== undefined && signals.deviceMemoryGb < 4)
    reasons.push(`${signals.deviceMemoryGb} GB memory`);
  const isMobile = reasons.length > 0;
  return {
    isMobile,
    reasons,
    cores: signals.cores ?? 1,
    deviceMemoryGb: signals.deviceMemoryGb ?? null,
    dutyCycle: isMobile ? MOBILE_DUTY_CYCLE : 1,
    maxSessions: isMobile ? 1 : 2
  };
}

/** Reads the signals from this browser. */
export function detectDevice(): DeviceProfile {
  const nav = navigator as Navigator & { deviceMemory?: number };
  return profileDevice({
    userAgent: nav.userAgent,
    screenWidth: screen.width,
    screenHeight: screen.height,
    deviceMemoryGb: nav.deviceMemory,
    cores: nav.hardwareConcurrency
  });
}
