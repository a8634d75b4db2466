/**
 * Each strategy and learner parameter is defined once (src/bandit/config-schema.ts): the engine's normaliser
 * and PUT /models/{name} must accept and refuse exactly the same values. For every numeric parameter, its
 * bounds (and just past them) are sent both ways and the verdicts compared.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import request from 'supertest';
import { LEARNER_PARAMS, normalizeBanditConfig, STRATEGY_PARAMS, type ParamSchema } from '../../src/bandit/index.js';
import { it, startHarness, type Harness } from './harness.js';

/** Values at and just past each bound of a numeric parameter. */
function probes(spec: ParamSchema): number[] {
  const out: number[] = [];
  const step = spec.type === 'integer' ? 1 : 1e-6;
  if (spec.minimum !== undefined) out.push(spec.minimum, spec.minimum - step);
  if (spec.exclusiveMinimum !== undefined) out.push(spec.exclusiveMinimum, spec.exclusiveMinimum + step);
  if (spec.maximum !== undefined) out.push(spec.maximum, spec.maximum + (spec.type === 'integer' ? 1 : Math.max(step, spec.maximum * 1e-6)));
  if (spec.type === 'integer' && spec.minimum !== undefined) out.push(spec.minimum + 0.5);
  return out;
}

/** A config that puts `value` in parameter `key` of strategy or learner `name`. */
function configs(): { label: string; config: Record<string, unknown> }[] {
  const out: { label: string; config: Record<string, unknown> }[] = [];
  for (const [name, table] of Object.entries(STRATEGY_PARAMS)) {
    for (const [key, spec] of Object.entries(table)) {
      if (spec.type !== 'number' && spec.type !== 'integer') continue;
      for (const value of probes(spec)) out.push({ label: `strategy ${name}.${key}=${value}`, config: { strategy: { name, [key]: value } } });
    }
  }
  for (const [name, table] of Object.entries(LEARNER_PARAMS)) {
    for (const [key, spec] of Object.entries(table)) {
      if (spec.type !== 'number' && spec.type !== 'integer') continue;
      // linucb needs a posterior learner; epsilon-greedy takes either.
      const strategy = name === 'bayes-linear' ? { name: 'linucb' } : { name: 'epsilon-greedy' };
      for (const value of probes(spec)) out.push({ label: `learner ${name}.${key}=${value}`, config: { strategy, learner: { name, [key]: value } } });
    }
  }
  return out;
}

describe('strategy and learner bounds are the same in the engine and over HTTP', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  it('every bound and just past it: both accept or both refuse', async () => {
    const cases = configs();
    assert.ok(cases.length > 40, `${cases.length} probes`);
    let refused = 0;
    for (const [i, c] of cases.entries()) {
      let engineAccepts = true;
      try {
        normalizeBanditConfig(c.config as never);
      } catch {
        engineAccepts = false;
      }
      const res = await request(h.focal.app).put(`/models/bounds-${i}`).send(c.config);
      assert.ok(res.status === 200 || res.status === 400, `${c.label}: ${res.status} ${res.text}`);
      assert.equal(res.status === 200, engineAccepts, `${c.label}: HTTP ${res.status}, engine ${engineAccepts ? 'accepts' : 'refuses'}`);
      if (!engineAccepts) refused++;
    }
    assert.ok(refused > 20, `values past a bound are refused (${refused})`);
  });
});
