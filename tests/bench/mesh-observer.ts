/**
 * Helper process for `bench:mesh`: a peer that joins a relay, subscribes to shard-work-result and
 * prints one JSON line per received message (`{"event":"msg","data":...}`). Runs apart from the
 * simulated scouts so that their CPU load does not stall the measurement.
 */
import '../../src/lib/server/node-compat.js';
import { multiaddr } from '@multiformats/multiaddr';
import { createMeshNode } from '../../native-oracle/mesh/node-peer.js';
import { WORK_RESULT_TOPIC } from '../../src/lib/protocol/mesh.js';

const relay = process.argv[2];
if (!relay) {
  process.stderr.write('usage: mesh-observer.ts <relay multiaddr>\n');
  process.exit(2);
}
const node = await createMeshNode({ listen: [], isRelayListening: false });
await node.dial(multiaddr(relay));
node.services.pubsub.subscribe(WORK_RESULT_TOPIC);
node.services.pubsub.addEventListener('message', (evt) => {
  if (evt.detail.topic !== WORK_RESULT_TOPIC) return;
  process.stdout.write(
    JSON.stringify({ event: 'msg', data: new TextDecoder().decode(evt.detail.data) }) + '\n'
  );
});
process.stdout.write(
  JSON.stringify({ event: 'observer:ready', peerId: node.peerId.toString() }) + '\n'
);
process.on('SIGTERM', async () => {
  await node.stop();
  process.exit(0);
});
