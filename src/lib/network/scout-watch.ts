/**
 * Reads, without taking part, the state of this browser's scout: the leader tab (the one with
 * /scout open that won the Web Lock, see $lib/scout/leader.ts) answers a `hello` on the scout
 * BroadcastChannel with its shared state. This never joins the election, so opening the network
 * page cannot take the scout over or start one.
 *
 * The channel name and message shapes are those of $lib/scout/leader.ts, which keeps them
 * private; they are repeated here (asked: export them from leader.ts, or a read-only
 * `watchScout()` there).
 */
import { randomId } from '$lib/random-id.js';
import { z } from 'zod';
import type { SharedScoutState } from '$lib/scout/scout-controller.svelte.js';

const SCOUT_CHANNEL = 'shard-scout';

/** What the network page needs of the leader's state; other fields pass through unchecked. */
const SharedStateSchema = z.looseObject({
  phase: z.string(),
  snapshot: z
    .looseObject({
      peerId: z.string().nullable(),
      engine: z.string().nullable(),
      peers: z.number(),
      stats: z.looseObject({
        sessions: z.number(),
        activeSessions: z.number(),
        drafted: z.number(),
        accepted: z.number(),
        verified: z.number()
      })
    })
    .nullable()
});

export interface ScoutWatch {
  /** Asks the leader (if any) to send its state now. */
  ask(): void;
  close(): void;
}

/**
 * Listens on the scout channel and calls `onState` with each state the leader publishes;
 * messages that do not parse are ignored (another app version may share the origin).
 */
export function watchScout(onState: (state: SharedScoutState) => void): ScoutWatch {
  if (typeof BroadcastChannel === 'undefined') return { ask() {}, close() {} };
  const tabId = `watch-${randomId().slice(0, 8)}`;
  const channel = new BroadcastChannel(SCOUT_CHANNEL);
  channel.onmessage = (event: MessageEvent<unknown>) => {
    const msg = event.data as { type?: unknown; state?: unknown } | null;
    if (!msg || msg.type !== 'state') return;
    const parsed = SharedStateSchema.safeParse(msg.state);
    if (parsed.success) onState(msg.state as SharedScoutState);
  };
  return {
    ask: () => channel.postMessage({ type: 'hello', from: tabId }),
    close: () => channel.close()
  };
}
