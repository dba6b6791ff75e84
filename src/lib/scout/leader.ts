/**
 * One scout per browser: tabs with the scout page open elect a leader with the Web Locks API
 * (the lock is released when the leader's tab closes, and the next waiting tab gets it: that is
 * the takeover). The leader runs the scout worker; other tabs are followers that show the
 * leader's state and send it commands over a BroadcastChannel.
 */

import { randomId } from '$lib/random-id.js';

/** Web Lock held by the leader tab for as long as it lives. */
const LEADER_LOCK = 'shard-scout-leader';
/** BroadcastChannel name shared by the scout tabs of one origin. */
const CHANNEL = 'shard-scout';

/** Messages on the BroadcastChannel. `from` is the sending tab's id. */
type TabMessage<S> =
  | { type: 'state'; from: string; state: S }
  | { type: 'command'; from: string; command: 'start' | 'stop' }
  | { type: 'hello'; from: string };

export interface LeaderElection<S> {
  readonly tabId: string;
  /** Leader: shares state with followers. */
  publish(state: S): void;
  /** Follower: asks the leader to start or stop scouting. */
  send(command: 'start' | 'stop'): void;
  /** Gives up leadership (or the place in the queue) and closes the channel. */
  close(): void;
}

export interface LeaderElectionOptions<S> {
  onLeader(): void;
  onState(state: S, from: string): void;
  onCommand(command: 'start' | 'stop'): void;
  /** A follower joined; the leader answers with its state. */
  onHello?(): void;
}

/** Joins the election; `onLeader` fires once this tab holds the lock. */
export function joinElection<S>(options: LeaderElectionOptions<S>): LeaderElection<S> {
  const tabId = randomId().slice(0, 8);
  const channel = new BroadcastChannel(CHANNEL);
  const release = new AbortController();
  let isLeader = false;

  channel.onmessage = (event: MessageEvent<TabMessage<S>>) => {
    const msg = event.data;
    if (!msg || msg.from === tabId) return;
    if (msg.type === 'state' && !isLeader) options.onState(msg.state, msg.from);
    else if (msg.type === 'command' && isLeader) options.onCommand(msg.command);
    else if (msg.type === 'hello' && isLeader) options.onHello?.();
  };

  void navigator.locks
    .request(LEADER_LOCK, { mode: 'exclusive', signal: release.signal }, async () => {
      isLeader = true;
      options.onLeader();
      // Hold the lock until this tab closes or gives up.
      await new Promise<void>((resolve) =>
        release.signal.addEventListener('abort', () => resolve(), { once: true })
      );
    })
    .catch(() => undefined);
  channel.postMessage({ type: 'hello', from: tabId } satisfies TabMessage<S>);

  return {
    tabId,
    publish: (state) =>
      channel.postMessage({ type: 'state', from: tabId, state } satisfies TabMessage<S>),
    send: (command) =>
      channel.postMessage({ type: 'command', from: tabId, command } satisfies TabMessage<S>),
    close() {
      release.abort();
      channel.close();
    }
  };
}
