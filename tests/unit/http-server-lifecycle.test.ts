/**
 * Oracle server lifecycle without a model (the real degraded mode): port conflicts, plugin start
 * failures, a failing mesh provider, shutdown refusal. Real HTTP on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import { createOracleServer } from '../../native-oracle/server.js';

describe('oracle server lifecycle', () => {
  it('rejects start() with EADDRINUSE when the port is taken, and can start later on a free one', async () => {
    const first = createOracleServer({ engine: null, host: '127.0.0.1', port: 0 });
    await first.start();
    const port = Number(new URL(first.url).port);
    const clash = createOracleServer({ engine: null, host: '127.0.0.1', port });
    await expect(clash.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(() => clash.url).toThrow(/has not started/);
    await first.stop();
    await clash.start();
    expect((await fetch(`${clash.url}/health`)).status).toBe(200);
    await clash.stop();
  });

  it('stops started plugins and releases the port when a plugin fails to start', async () => {
    const events: string[] = [];
    const server = createOracleServer({
      engine: null,
      host: '127.0.0.1',
      port: 0,
      plugins: [
        () => ({
          start: () => void events.push('a start'),
          stop: () => void events.push('a stop')
        }),
        () => ({
          start: () => {
            throw new Error('mesh cannot reach its relay');
          },
          stop: () => void events.push('b stop')
        })
      ]
    });
    await expect(server.start()).rejects.toThrow('mesh cannot reach its relay');
    expect(events).toEqual(['a start', 'a stop']);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });

  it('keeps /health answering when the peers provider throws', async () => {
    const server = createOracleServer({
      engine: null,
      host: '127.0.0.1',
      port: 0,
      peers: () => {
        throw new Error('mesh not started');
      }
    });
    await server.start();
    try {
      const res = await fetch(`${server.url}/health`);
      expect(res.status).toBe(200);
      expect((await res.json()).peers).toBe(0);
      const peers = await fetch(`${server.url}/v1/system/peers`);
      expect(peers.status).toBe(500);
      expect((await peers.json()).error).toEqual({
        message: 'internal server error',
        type: 'server_error',
        param: null,
        code: 'internal_error'
      });
    } finally {
      await server.stop();
    }
  });
});
