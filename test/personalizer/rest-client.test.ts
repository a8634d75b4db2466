import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import personalizer, { isUnexpected, type PersonalizerClient } from '@azure-rest/ai-personalizer';
import { AzureKeyCredential } from '@azure/core-auth';
import { ACTIONS, ADMIN_KEY, API_KEY, contextFor, startPersonalizer, type PersonalizerHarness } from './harness.js';

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// The package is CommonJS with `exports.default`: under Node's ESM the default import is the exports object.
const createPersonalizerClient = personalizer.default;

function client(endpoint: string, key: string): PersonalizerClient {
  return createPersonalizerClient(endpoint, new AzureKeyCredential(key), { allowInsecureConnection: true });
}

async function rankAndReward(c: PersonalizerClient, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const { contextFeatures, best } = contextFor(i);
    const r = await c.path('/rank').post({ body: { contextFeatures, actions: ACTIONS } });
    if (isUnexpected(r)) throw new Error(JSON.stringify(r.body));
    const reward = await c.path('/events/{eventId}/reward', r.body.eventId).post({ body: { value: r.body.rewardActionId === best ? 1 : 0 } });
    assert.equal(reward.status, '204');
  }
}

/** Microsoft's v1.1-preview.3 REST client (@azure-rest/ai-personalizer) pointed at Focal. */
describe('Personalizer v1.1-preview.3 with @azure-rest/ai-personalizer', { timeout: 300_000 }, () => {
  let h: PersonalizerHarness;
  let user: PersonalizerClient;
  let admin: PersonalizerClient;
  before(async () => {
    h = await startPersonalizer();
    user = client(h.endpoint, API_KEY);
    admin = client(h.endpoint, ADMIN_KEY);
  });
  after(async () => { await h.close(); });

  it('service configuration: Personalizer\'s defaults, durations read as PT5M and as 00:05:00, bad values refused with their codes', async () => {
    const got = await user.path('/configurations/service').get();
    assert.equal(got.status, '200');
    const config = got.body as Body;
    assert.equal(config.rewardWaitTime, 'PT10M');
    assert.equal(config.defaultReward, 0);
    assert.equal(config.rewardAggregation, 'earliest');
    assert.equal(config.explorationPercentage, 0.2);
    assert.equal(config.learningMode, 'Online');
    assert.equal(config.logRetentionDays, 30);
    for (const key of ['modelExportFrequency', 'lastConfigurationEditDate', 'isAutoOptimizationEnabled', 'logMirrorEnabled']) assert.ok(key in config, key);

    // The user key may read but not change the configuration.
    const denied = await user.path('/configurations/service').put({ body: { ...config, defaultReward: 0.1 } as never });
    assert.equal(denied.status, '403');
    const put = await admin.path('/configurations/service').put({ body: { ...config, rewardWaitTime: '00:05:00', defaultReward: -0.5, rewardAggregation: 'sum', explorationPercentage: 0.3, logRetentionDays: 7 } as never });
    assert.equal(put.status, '200', JSON.stringify(put.body));
    const updated = put.body as Body;
    assert.equal(updated.rewardWaitTime, 'PT5M');
    assert.deepEqual([updated.defaultReward, updated.rewardAggregation, updated.explorationPercentage, updated.logRetentionDays], [-0.5, 'sum', 0.3, 7]);
    // …and Focal's own model has them.
    const model = h.focal.capabilities.find((c) => c.name === 'decisions')!;
    assert.ok(model);
    const row = JSON.parse((h.db.prepare('SELECT config FROM models WHERE name = ?').get('personalizer') as { config: string }).config) as Body;
    assert.deepEqual(row.reward, { waitSeconds: 300, default: -0.5, aggregation: 'sum' });
    assert.deepEqual(row.strategy, { name: 'epsilon-greedy', epsilon: 0.3 });
    assert.equal(row.log.retention, '7d');

    const back = await admin.path('/configurations/service').put({ body: { ...updated, rewardWaitTime: 'PT10M', defaultReward: 0, rewardAggregation: 'earliest', explorationPercentage: 0.2, logRetentionDays: -1 } as never });
    assert.equal(back.status, '200', JSON.stringify(back.body));
    assert.equal((back.body as Body).logRetentionDays, -1);

    for (const [change, code] of [
      [{ rewardWaitTime: 'ten minutes' }, 'InvalidServiceConfiguration'],
      [{ rewardWaitTime: 'P3D' }, 'InvalidRewardWaitTime'],
      [{ rewardWaitTime: '00:00:02' }, 'InvalidRewardWaitTime'],
      [{ logRetentionDays: 0 }, 'InvalidLogRetentionDays'],
      [{ rewardAggregation: 'latest' }, 'InvalidServiceConfiguration'],
      [{ logMirrorEnabled: true }, 'InvalidServiceConfiguration'],
      [{ defaultReward: 2 }, 'InvalidServiceConfiguration'],
    ] as const) {
      const bad = await admin.path('/configurations/service').put({ body: { ...(back.body as Body), ...change } as never });
      assert.equal(bad.status, '400', JSON.stringify(change));
      assert.equal((bad.body as Body).error.code, code, JSON.stringify(bad.body));
    }
  });

  it('policy: put, get, reset; a bad line is refused naming the flag and changes nothing', async () => {
    const initial = await user.path('/configurations/policy').get();
    assert.equal(initial.status, '200');
    assert.match((initial.body as Body).arguments, /--cb_explore_adf/);
    const args = '--cb_explore_adf --epsilon 0.2 --dsjson --cb_type ips -l 0.5 --l1 1E-07 --power_t 0.5 -q ::';
    const put = await admin.path('/configurations/policy').put({ body: { name: 'from-personalizer', arguments: args } });
    assert.equal(put.status, '200', JSON.stringify(put.body));
    assert.deepEqual(put.body, { name: 'from-personalizer', arguments: args });
    assert.deepEqual((await user.path('/configurations/policy').get()).body, { name: 'from-personalizer', arguments: args });

    const softmax = await admin.path('/configurations/policy').put({ body: { name: 'soft', arguments: '--cb_explore_adf --softmax --lambda 4 -l 0.25' } });
    assert.equal(softmax.status, '200');
    const config = JSON.parse((h.db.prepare('SELECT config FROM models WHERE name = ?').get('personalizer') as { config: string }).config) as Body;
    assert.deepEqual(config.strategy, { name: 'softmax', lambda: 4 });
    assert.equal(config.learner.learningRate, 0.25);
    assert.deepEqual(config.learner.interactions, []);

    for (const [line, flag] of [
      ['--cb_explore_adf --epsilon 1.5', '--epsilon'],
      ['--cb_explore_adf --cover 4', '--cover'],
      ['--cb_explore_adf --power_t 0', '--power_t'],
      ['--cb_explore_adf --epsilon 0.1 --frobnicate', '--frobnicate'],
      ['--epsilon 0.1', '--cb_explore_adf'],
    ]) {
      const bad = await admin.path('/configurations/policy').put({ body: { name: 'bad', arguments: line! } });
      assert.equal(bad.status, '400', line);
      const error = (bad.body as Body).error;
      assert.equal(error.code, 'InvalidPolicyConfiguration');
      assert.ok(error.message.includes(flag!), `${line}: ${error.message}`);
      assert.equal(error.target, `arguments:${flag}`);
    }
    assert.equal((await user.path('/configurations/policy').get()).body.name, 'soft');

    const reset = await admin.path('/configurations/policy').delete();
    assert.equal(reset.status, '200');
    assert.equal((reset.body as Body).name, 'default');
    assert.match((reset.body as Body).arguments, /--epsilon 0\.2/);
  });

  let evaluationId = '';
  it('an evaluation completes with Online, Baseline, Random and Custom results and Personalizer\'s summary fields', async () => {
    await rankAndReward(user, 240);
    const start = new Date(Date.now() - 3_600_000).toISOString();
    const end = new Date(Date.now() + 60_000).toISOString();
    const created = await user.path('/evaluations').post({
      body: { name: 'first', startTime: start, endTime: end, policies: [{ name: 'Custom greedy-ish', arguments: '--cb_explore_adf --epsilon 0.05 -q ::' }, { name: 'No interactions', arguments: '--cb_explore_adf --epsilon 0.05' }] },
    });
    assert.equal(created.status, '201', JSON.stringify(created.body));
    evaluationId = (created.body as Body).id;
    assert.ok(String(created.headers.location).endsWith(`/personalizer/v1.1-preview.3/evaluations/${evaluationId}`));
    let ev: Body = {};
    for (let i = 0; i < 600; i++) {
      const r = await user.path('/evaluations/{evaluationId}', evaluationId).get();
      assert.equal(r.status, '200');
      ev = r.body as Body;
      if (ev.status !== 'pending') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(ev.status, 'completed', JSON.stringify(ev));
    assert.equal(ev.name, 'first');
    assert.equal(ev.evaluationType, 'Manual');
    assert.deepEqual(ev.policyResults.map((p: Body) => [p.name, p.policySource]),
      [['Online', 'Online'], ['Baseline', 'Baseline'], ['Random', 'Random'], ['Custom greedy-ish', 'Custom'], ['No interactions', 'Custom']]);
    for (const p of ev.policyResults as Body[]) {
      const t = p.totalSummary;
      assert.equal(t.ipsEstimatorDenominator, 240, p.name);
      assert.ok(Math.abs(t.averageReward - t.ipsEstimatorNumerator / t.ipsEstimatorDenominator) < 1e-9);
      assert.ok(t.snipsEstimatorDenominator > 0 && t.confidenceInterval >= 0 && typeof t.aggregateTimeWindow === 'string');
      assert.equal(p.summary.length, 1);
    }
    // The log came from a learning ε = 0.2 policy: it beats uniform, and the learning candidates beat uniform too.
    const value = (name: string) => (ev.policyResults as Body[]).find((p) => p.name === name)!.totalSummary.averageReward as number;
    assert.ok(value('Online') > value('Random'), `online ${value('Online')} vs random ${value('Random')}`);
    assert.ok(value('Custom greedy-ish') > value('Random'));
    assert.ok(['Online', 'Baseline', 'Random', 'Custom greedy-ish', 'No interactions'].includes(ev.optimalPolicy));
    const list = await user.path('/evaluations').get();
    assert.equal(list.status, '200');
    assert.deepEqual((list.body as Body[]).map((e) => e.id), [evaluationId]);
  });

  it('applyFromEvaluation makes an evaluated policy the learning settings; bad references are refused', async () => {
    const applied = await admin.path('/configurations/applyFromEvaluation').post({ body: { evaluationId, policyName: 'No interactions' } });
    assert.equal(applied.status, '204', JSON.stringify(applied.body));
    const policy = (await user.path('/configurations/policy').get()).body as Body;
    assert.equal(policy.name, 'No interactions');
    assert.doesNotMatch(policy.arguments, /-q/);
    const unknown = await admin.path('/configurations/applyFromEvaluation').post({ body: { evaluationId, policyName: 'nope' } });
    assert.equal(unknown.status, '400');
    assert.equal((unknown.body as Body).error.code, 'LearningSettingsNotFound');
    const missing = await admin.path('/configurations/applyFromEvaluation').post({ body: { evaluationId: 'missing', policyName: 'Online' } });
    assert.equal(missing.status, '404');
    assert.equal((missing.body as Body).error.code, 'EvaluationNotFound');
  });

  it('learningMode Apprentice answers the baseline every time and learns from it; back to Online it explores again; metrics/learning counts the matches', async () => {
    const focalView = async () => (await (await import('supertest')).default(h.focal.app).get('/models/personalizer').set('Authorization', `Bearer ${API_KEY}`)).body as Body;
    const config = (await user.path('/configurations/service').get()).body as Body;
    const together = await admin.path('/configurations/service').put({ body: { ...config, learningMode: 'Apprentice', defaultReward: 0.5 } as never });
    assert.equal(together.status, '400');
    assert.equal((together.body as Body).error.code, 'InvalidLearningModeServiceConfiguration');
    const apprentice = await admin.path('/configurations/service').put({ body: { ...config, learningMode: 'Apprentice' } as never });
    assert.equal(apprentice.status, '200', JSON.stringify(apprentice.body));
    assert.equal((apprentice.body as Body).learningMode, 'Apprentice');
    assert.equal((await focalView()).config.mode, 'apprentice');
    const before = (await focalView()).stats.fingerprint;
    const metricsBefore = await user.pathUnchecked('/metrics/learning').get();
    const apprenticeBefore = ((metricsBefore.body as Body[][]).at(-1)?.[0]?.learningMode === 'Apprentice') ? (metricsBefore.body as Body[][]).at(-1)!.at(-1)!.cumulativeNumberOfEvents : 0;
    for (let i = 0; i < 40; i++) {
      const { contextFeatures, best } = contextFor(i);
      // Rotate the actions so the baseline (the first action not excluded) changes from round to round.
      const actions = [...ACTIONS.slice(i % 4), ...ACTIONS.slice(0, i % 4)];
      const excluded = i % 5 === 0 ? [actions[0]!.id] : [];
      const baseline = actions.find((a) => !excluded.includes(a.id))!.id;
      const r = await user.path('/rank').post({ body: { contextFeatures, actions, excludedActions: excluded } });
      assert.equal(r.status, '201');
      const body = r.body as Body;
      assert.equal(body.rewardActionId, baseline, `round ${i}`);
      await user.path('/events/{eventId}/reward', body.eventId).post({ body: { value: body.rewardActionId === best ? 1 : 0 } });
    }
    const view = await focalView();
    assert.notEqual(view.stats.fingerprint, before, 'apprentice mode learns from the baseline\'s rewards');
    assert.equal(view.stats.apprentice.events, 40);
    const metrics = await user.pathUnchecked('/metrics/learning').get();
    assert.equal(metrics.status, '200');
    const series = (metrics.body as Body[][]).at(-1)!;
    assert.equal(series[0]!.learningMode, 'Apprentice');
    const lastBucket = series.at(-1)!;
    assert.equal(lastBucket.cumulativeNumberOfEvents - apprenticeBefore, 40);
    assert.equal(lastBucket.cumulativeNumberOfMatchedEvents, view.stats.apprentice.imitated);

    const online = await admin.path('/configurations/service').put({ body: { ...(apprentice.body as Body), learningMode: 'Online' } as never });
    assert.equal(online.status, '200');
    assert.equal((online.body as Body).learningMode, 'Online');
    let differs = 0;
    for (let i = 0; i < 60; i++) {
      const actions = [...ACTIONS.slice(i % 4), ...ACTIONS.slice(0, i % 4)];
      const r = await user.path('/rank').post({ body: { contextFeatures: contextFor(i).contextFeatures, actions } });
      if ((r.body as Body).rewardActionId !== actions[0]!.id) differs++;
      await user.path('/events/{eventId}/reward', (r.body as Body).eventId).post({ body: { value: 0 } });
    }
    assert.ok(differs > 0, 'online mode chooses other actions than the baseline');
  });

  it('model and log properties', async () => {
    const model = await user.path('/model/properties').get();
    assert.equal(model.status, '200');
    const m = model.body as Body;
    assert.ok(Date.parse(m.creationTime) <= Date.parse(m.lastModifiedTime));
    const logs = await user.path('/logs/properties').get();
    assert.equal(logs.status, '200');
    const range = (logs.body as Body).dateRange;
    assert.ok(Date.parse(range.from) <= Date.parse(range.to) && Date.parse(range.to) <= Date.now());
  });

  it('model export → import gives back the same learned model; reset starts afresh; a file that is not an export is refused', async () => {
    const fingerprint = async () => ((await (await import('supertest')).default(h.focal.app).get('/models/personalizer').set('Authorization', `Bearer ${API_KEY}`)).body as Body).stats.fingerprint as string;
    await rankAndReward(user, 40);
    const learned = await fingerprint();
    assert.equal((await user.path('/model').get()).status, '403');
    const exported = await admin.path('/model').get().asNodeStream();
    assert.equal(exported.status, '200');
    const chunks: Buffer[] = [];
    for await (const chunk of exported.body!) chunks.push(Buffer.from(chunk as Uint8Array));
    const file = Buffer.concat(chunks);
    assert.equal(file.subarray(0, 10).toString('ascii'), 'FOCALMODEL');

    assert.equal((await admin.path('/model').delete()).status, '204');
    const fresh = await fingerprint();
    assert.notEqual(fresh, learned);
    const props = (await user.path('/model/properties').get()).body as Body;
    assert.ok(Date.now() - Date.parse(props.creationTime) < 60_000);

    const imported = await admin.path('/model').put({ body: file, contentType: 'application/octet-stream' });
    assert.equal(imported.status, '204', JSON.stringify(imported.body));
    assert.equal(await fingerprint(), learned);

    const corrupt = Buffer.from(file);
    corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 1) ^ 0xff, corrupt.length - 1);
    for (const bad of [corrupt, Buffer.from('PK\u0003\u0004 a Personalizer zip'), Buffer.from('hello')]) {
      const r = await admin.path('/model').put({ body: bad, contentType: 'application/octet-stream' });
      assert.equal(r.status, '400');
      assert.equal((r.body as Body).error.code, 'InvalidModelImportFormat');
    }
    assert.equal(await fingerprint(), learned);
  });

  it('DELETE /logs deletes the logged events (the learned model stays); log properties then say there are none', async () => {
    const fingerprint = async () => ((await (await import('supertest')).default(h.focal.app).get('/models/personalizer').set('Authorization', `Bearer ${API_KEY}`)).body as Body).stats.fingerprint as string;
    const before = await fingerprint();
    const count = () => (h.db.prepare(`SELECT COUNT(*) AS n FROM events WHERE model = 'personalizer'`).get() as { n: number }).n;
    assert.ok(count() >= 240);
    assert.equal((await user.path('/logs').delete()).status, '403');
    const deleted = await admin.path('/logs').delete();
    assert.equal(deleted.status, '204');
    assert.equal(count(), 0);
    assert.equal(await fingerprint(), before);
    const logs = await user.path('/logs/properties').get();
    assert.equal(logs.status as string, '404');
    assert.equal((logs.body as unknown as Body).error.code, 'LogsPropertiesNotFound');
  });

  it('deletes an evaluation (204), after which it is a 404', async () => {
    assert.equal((await user.path('/evaluations/{evaluationId}', evaluationId).delete()).status, '204');
    const gone = await user.path('/evaluations/{evaluationId}', evaluationId).get();
    assert.equal(gone.status, '404');
    assert.equal((gone.body as Body).error.code, 'EvaluationNotFound');
  });
});
