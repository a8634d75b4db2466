import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiKeyCredentials } from '@azure/ms-rest-js';
import { PersonalizerClient } from '@azure/cognitiveservices-personalizer';
import { call, kill9, killAll, startFocal, type FocalProcess } from '../server-process.js';
import { ACTIONS, contextFor } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'focal-personalizer-restart-'));
const KEY = 'restart-key-0123456789abcdef';

function startServer(): Promise<FocalProcess> {
  return startFocal({ FOCAL_DATA_DIR: dir, FOCAL_API_KEY: KEY, FOCAL_SNAPSHOT_INTERVAL_SECONDS: '1', FOCAL_MODELS_DIR: join(dir, 'no-models') }, 30_000);
}

function client(base: string): PersonalizerClient {
  return new PersonalizerClient(new ApiKeyCredentials({ inHeader: { 'Ocp-Apim-Subscription-Key': KEY } }), base);
}

const auth = { authorization: `Bearer ${KEY}` };

/**
 * SIGKILL under Personalizer traffic: every rank and reward that got its 201/204, the learning settings, the
 * service configuration and a deferred event's state survive, and the model comes back with the same fingerprint.
 */
describe('Personalizer across a SIGKILL', { timeout: 180_000 }, () => {
  after(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps what was acknowledged and the model it learned', async () => {
    let s = await startServer();
    let c = client(s.base);
    const policy = await call(s.base, 'PUT', '/personalizer/v1.0/configurations/policy', { name: 'softer', arguments: '--cb_explore_adf --softmax --lambda 5 -q ::' }, auth);
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    const config = (await call(s.base, 'GET', '/personalizer/v1.0/configurations/service', undefined, auth)).body;
    assert.equal((await call(s.base, 'PUT', '/personalizer/v1.0/configurations/service', { ...config, rewardWaitTime: 'PT1H', logRetentionDays: 10 }, auth)).status, 200);
    const acked = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const { contextFeatures, best } = contextFor(i);
      const r = await c.rank({ contextFeatures, actions: ACTIONS, eventId: `r-${i}` });
      const value = r.rewardActionId === best ? 1 : 0;
      await c.events.reward(r.eventId!, { value });
      acked.set(r.eventId!, value);
    }
    await c.rank({ actions: ACTIONS, eventId: 'deferred', deferActivation: true });
    await c.events.reward('deferred', { value: 1 });
    const before = (await call(s.base, 'GET', '/models/personalizer', undefined, auth)).body as { stats: { fingerprint: string } };
    await kill9(s);

    s = await startServer();
    c = client(s.base);
    const after = (await call(s.base, 'GET', '/models/personalizer', undefined, auth)).body as { stats: { fingerprint: string } };
    assert.equal(after.stats.fingerprint, before.stats.fingerprint);
    assert.deepEqual((await call(s.base, 'GET', '/personalizer/v1.0/configurations/policy', undefined, auth)).body, { name: 'softer', arguments: '--cb_explore_adf --softmax --lambda 5 -q ::' });
    const service = (await call(s.base, 'GET', '/personalizer/v1.0/configurations/service', undefined, auth)).body;
    assert.deepEqual([service.rewardWaitTime, service.logRetentionDays], ['PT1H', 10]);
    const log = await fetch(`${s.base}/models/personalizer/log?format=jsonl`, { headers: auth });
    const rows = (await log.text()).trim().split('\n').map((l) => JSON.parse(l) as { eventId: string; reward: number | null });
    for (const [eventId, value] of acked) assert.equal(rows.find((r) => r.eventId === eventId)?.reward, value, eventId);
    // The deferred event's reward waited for activation across the restart, and counts once it comes.
    assert.equal((await c.events.activate('deferred'))._response.status, 204);
    const activated = (await call(s.base, 'GET', '/models/personalizer', undefined, auth)).body as { stats: { fingerprint: string } };
    assert.notEqual(activated.stats.fingerprint, before.stats.fingerprint);
    await kill9(s);
  });
});
