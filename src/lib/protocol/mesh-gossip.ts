/**
 * Gossipsub settings shared by every mesh peer (relay, oracle, Node and browser scouts), as plain
 * option objects for `@libp2p/gossipsub` 17. Framework-free so the browser scout can use them.
 *
 * Why these numbers: a relay is a hub that many browsers reach through one NAT or one loopback
 * address. Gossipsub's defaults (mesh degree D=6, Dhi=12, IP colocation penalty) would prune most
 * of them from the mesh and score them down; a hub keeps a wide mesh instead and does not
 * penalise many peers behind one IP. Leaf peers keep modest defaults.
 */

/** The subset of gossipsub options the mesh sets (structurally a `Partial<GossipsubOpts>`). */
export interface MeshGossipOptions {
  allowPublishToZeroTopicPeers: boolean;
  ignoreDuplicatePublishError: boolean;
  floodPublish: boolean;
  runOnLimitedConnection: boolean;
  emitSelf: boolean;
  heartbeatInterval: number;
  maxInboundDataLength: number;
  scoreParams: { IPColocationFactorWeight: number; behaviourPenaltyWeight?: number };
  D?: number;
  Dlo?: number;
  Dhi?: number;
  Dout?: number;
  Dlazy?: number;
  doPX?: boolean;
}

/** Options for a relay hub serving hundreds of browsers (pass to `gossipsub()`). */
export function relayGossipOptions(): MeshGossipOptions {
  return {
    ...leafGossipOptions(),
    // A hub forwards to everyone who subscribed: a wide mesh, flooded publishes.
    D: 32,
    Dlo: 16,
    Dhi: 256,
    Dout: 4,
    Dlazy: 32,
    doPX: true,
    scoreParams: { IPColocationFactorWeight: 0, behaviourPenaltyWeight: 0 }
  };
}

/** Options for leaf peers (oracle, scouts). */
export function leafGossipOptions(): MeshGossipOptions {
  return {
    // Announcements may be published before any scout subscribed; that is not an error.
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    floodPublish: true,
    // Browsers reach each other only through relayed (limited) connections.
    runOnLimitedConnection: true,
    emitSelf: false,
    heartbeatInterval: 1000,
    // A leaf's only gossip peer is usually its relay: scoring it down for slow IWANT answers
    // (behaviour penalty) would make the leaf stop publishing to the one peer it has.
    scoreParams: { IPColocationFactorWeight: 0, behaviourPenaltyWeight: 0 },
    maxInboundDataLength: 64 * 1024
  };
}
