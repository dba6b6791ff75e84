/**
 * Screen Wake Lock while scouting: keeps a phone from sleeping mid-session. Re-acquired when the
 * page becomes visible again (browsers drop the lock on hide).
 */
export class ScoutWakeLock {
  private sentinel: WakeLockSentinel | null = null;
  private isWanted = false;
  private readonly onVisible = () => {
    if (this.isWanted && document.visibilityState === 'visible' && !this.sentinel)
      void this.acquire();
  };

  constructor(private readonly onChange: (isActive: boolean) => void) {}

  /** Requests the lock; resolves false (never throws) when the browser refuses. */
  async enable(): Promise<boolean> {
    this.isWanted = true;
    document.addEventListener('visibilitychange', this.onVisible);
    return this.acquire();
  }

  async disable(): Promise<void> {
    this.isWanted = false;
    document.removeEventListener('visibilitychange', this.onVisible);
    const s = this.sentinel;
    this.sentinel = null;
    await s?.release().catch(() => undefined);
    this.onChange(false);
  }

  private async acquire(): Promise<boolean> {
    if (!('wakeLock' in navigator)) return false;
    try {
      const sentinel = await navigator.wakeLock.request('screen');
      this.sentinel = sentinel;
      sentinel.addEventListener('release', () => {
        if (this.sentinel === sentinel) this.sentinel = null;
        this.onChange(false);
      });
      this.onChange(true);
      return true;
    } catch {
      this.onChange(false);
      return false;
    }
  }
}
