import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe } from 'node:test';
import { offPolicyEstimate, type OffPolicyEstimate, type OffPolicyRecord } from '../../src/bandit/index.js';
import { decodeDecisionPayload } from '../../src/decisions/decision-store.js';
import { OFF_POLICY_WINDOW } from '../../src/decisions/off-policy-window.js';
import { currentStore, it, startHarness, type Harness } from './harness.js';

const actions = ['a', 'b', 'c', 'd'];

describe('off-policy estimates in GET /models/{name}', () => {
  let h: Harness;
  before(async () => { h = await startHarness({ memory: true }); });
  after(async () => { await h.close(); });

  async function traffic(model: string, n: number): Promise<void> {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
        const k = i + j;
        const d = await h.service.decide({ model, context: { u: { k: k % 5 } }, actions });
        await h.service.reward([{ eventId: d.eventId, reward: d.action === actions[k % 5 % 4] ? 1 : 0 }], () => { throw new Error('not a decision'); });
      }));
    }
  }

  /** The estimates computed directly, all at once, over the same window of the log. */
  async function reference(model: string) {
    const rows = await h.sql<{ id: string; reward: number; payload: string }>(`SELECT r.event_id AS id, r.reward AS reward, e.payload AS payload FROM rewards r
      JOIN events e ON e.event_id = r.event_id WHERE r.model = ? AND r.learn = 1 ORDER BY r.seq DESC LIMIT ?`, model, OFF_POLICY_WINDOW);
    const bandit = (h.service as unknown as { registry: { get(name: string): { bandit: { decide: (c: unknown, a: unknown, s: string) => { pmf: number[]; scores: number[] } } } | undefined } }).registry.get(model)!.bandit;
    const records: OffPolicyRecord[] = rows.map((row) => {
      const p = decodeDecisionPayload(row.payload);
      const d = bandit.decide(p.context, p.actions, row.id);
      return {
        loggedProbability: p.probability, targetProbability: d.pmf[p.chosen]!, reward: row.reward,
        targetPredicted: d.pmf.reduce((s, q, i) => s + q * d.scores[i]!, 0), loggedPredicted: d.scores[p.chosen]!,
      };
    });
    return offPolicyEstimate(records);
  }

  it('a young model gets its estimates at once', async () => {
    await h.service.put('young', { reward: { waitSeconds: 3600 } });
    assert.equal(h.service.view('young').offPolicy, null, 'null before the first reward');
    await traffic('young', 10);
    // SQLite computes a young model's estimates in the GET itself; PostgreSQL reads the shared log first (one query
    // off the request's path), so the first GETs may answer null until that read is back.
    let value = h.service.view('young').offPolicy;
    if (currentStore() === 'postgres') {
      for (let waited = 0; value === null && waited < 5_000; waited += 10) { await sleep(10); value = h.service.view('young').offPolicy; }
    }
    assert.deepEqual(value, await reference('young'));
  });

  it('a full window is computed in slices between requests, over the latest 500 rewarded events', async () => {
    await h.service.put('busy', { reward: { waitSeconds: 3600 } });
    await traffic('busy', OFF_POLICY_WINDOW + 150);
    const first = h.service.view('busy').offPolicy;
    assert.equal(first, null, 'the first read does not wait for 500 evaluations');
    // Requests are served meanwhile: the refresh yields to the event loop between slices, so the estimates arrive
    // after several turns of it. (Counting turns, not timer ticks: a stalled process runs many slices' worth of
    // timers at once.)
    let turns = 0;
    let value: OffPolicyEstimate | null = first;
    for (const deadline = Date.now() + 10_000; value === null && Date.now() < deadline; turns++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      value = h.service.view('busy').offPolicy;
    }
    assert.ok(turns > 1, `the estimates took ${turns} turn(s) of the event loop; a refresh in slices takes several`);
    assert.equal(value!.n, OFF_POLICY_WINDOW);
    assert.deepEqual(value, await reference('busy'));
    // Cached: the same object until the state moves.
    assert.equal(h.service.view('busy').offPolicy, value);
  });
});
