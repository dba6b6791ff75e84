/**
 * When the chat route asks a contributed node (native-oracle/api/chat-forward.ts): the two hooks
 * in chat.ts decide whether to forward and under which model. Unserved model → forward as
 * `model_not_found`; a model this oracle serves (its id, `default`, none) → answered here; a full
 * queue (QueueFullError) → forward this oracle's model as `queue_full`; any other failure → never
 * forwarded. The forwarder itself is exercised end to end in tests/integration/forward-chat.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  attachChatForwarder,
  forwardUnserved,
  forwardWhenFull,
  type ChatForwarder
} from '../../native-oracle/api/chat-forward.js';
import { QueueFullError } from '../../native-oracle/admission/errors.js';
import type { Router } from '../../native-oracle/http/router.js';

function setup() {
  const calls: Array<{ model: string; reason: string }> = [];
  const answer = new Response('forwarded');
  const forwarder: ChatForwarder = {
    forward: async ({ model, reason }) => {
      calls.push({ model, reason });
      return answer;
    }
  };
  const router = {} as Router;
  attachChatForwarder(router, forwarder);
  return { router, calls, answer, request: new Request('http://oracle.test/v1/chat/completions') };
}

describe('chat forwarding hooks', () => {
  it.each([
    [{ model: 'target' }, null],
    [{ model: 'default' }, null],
    [{}, null],
    [{ model: 'other-model' }, { model: 'other-model', reason: 'model_not_found' }]
  ])('body %j on an oracle serving "target" → %j', async (body, expected) => {
    const t = setup();
    const res = await forwardUnserved(t.router, t.request, body, { modelId: 'target' });
    expect(t.calls).toEqual(expected ? [expected] : []);
    expect(res).toBe(expected ? t.answer : null);
  });

  it('an oracle with no model forwards any named model', async () => {
    const t = setup();
    expect(await forwardUnserved(t.router, t.request, { model: 'x' }, null)).toBe(t.answer);
    expect(t.calls).toEqual([{ model: 'x', reason: 'model_not_found' }]);
  });

  it('a full queue forwards this oracle model (or the one named); other errors never', async () => {
    const t = setup();
    const full = new QueueFullError('queue full', 1, 8, 8);
    expect(await forwardWhenFull(t.router, t.request, {}, 'target', full)).toBe(t.answer);
    expect(await forwardWhenFull(t.router, t.request, { model: 'default' }, 'target', full)).toBe(
      t.answer
    );
    expect(await forwardWhenFull(t.router, t.request, {}, 'target', new Error('boom'))).toBeNull();
    expect(t.calls).toEqual([
      { model: 'target', reason: 'queue_full' },
      { model: 'target', reason: 'queue_full' }
    ]);
  });

  it('without an attached forwarder nothing is forwarded', async () => {
    const router = {} as Router;
    const request = new Request('http://oracle.test/');
    expect(await forwardUnserved(router, request, { model: 'x' }, null)).toBeNull();
    expect(
      await forwardWhenFull(router, request, {}, 'target', new QueueFullError('full', 1, 1, 1))
    ).toBeNull();
  });
});
