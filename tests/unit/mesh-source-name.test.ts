/**
 * The draft source name of a mesh session names its SET of scouts: the engine keeps one
 * speculation governor per name, so a set leased in another order must reuse what was learned.
 */
import { describe, expect, it } from 'vitest';
import { scoutSourceName } from '../../native-oracle/mesh/oracle-mesh.js';

const IDS = [
  '12D3KooWQmYyAAAAaaaa1111',
  '12D3KooWQmYyBBBBbbbb2222',
  '12D3KooWQmYyCCCCcccc3333',
  '12D3KooWQmYyDDDDdddd4444'
];

describe('scout draft source names', () => {
  it('are the same for one set of scouts in any lease order', () => {
    const name = scoutSourceName(IDS);
    expect(name).toBe('scout:aaaa1111+bbbb2222+cccc3333+dddd4444');
    expect(scoutSourceName([...IDS].reverse())).toBe(name);
    expect(scoutSourceName([IDS[2], IDS[0], IDS[3], IDS[1]])).toBe(name);
  });

  it('differ for different sets, and one scout is named by its own id', () => {
    expect(scoutSourceName(IDS.slice(0, 3))).not.toBe(scoutSourceName(IDS.slice(1)));
    expect(scoutSourceName([IDS[0]])).toBe('scout:aaaa1111');
  });
});
