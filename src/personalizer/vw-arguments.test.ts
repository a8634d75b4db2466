import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTimeSpan, parseTimeSpan } from './durations.js';
import { formatPolicyArguments, parsePolicyArguments, PolicyArgumentError } from './vw-arguments.js';

describe('Personalizer durations', () => {
  it('reads ISO 8601 and .NET TimeSpan forms, writes ISO 8601', () => {
    const cases: [string, number][] = [['PT5M', 300], ['00:05:00', 300], ['PT10M', 600], ['1.00:00:00', 86400], ['P1D', 86400], ['PT1H30M', 5400],
      ['P1DT12H', 129600], ['PT0.5S', 0.5], ['00:00:05.5', 5.5], ['P2W', 1209600], ['pt5m', 300]];
    for (const [text, seconds] of cases) assert.equal(parseTimeSpan(text), seconds, text);
    for (const bad of ['', 'P', 'PT', '5 minutes', 'PT3D', '25:00:00', '00:60:00', 'P1Y', '-PT5M']) assert.equal(parseTimeSpan(bad), undefined, bad);
    assert.deepEqual([300, 600, 86400, 5400, 129600, 0.5, 0].map(formatTimeSpan), ['PT5M', 'PT10M', 'P1D', 'PT1H30M', 'P1DT12H', 'PT0.5S', 'PT0S']);
    for (const s of [5, 59, 61, 3599, 86399, 172800]) assert.equal(parseTimeSpan(formatTimeSpan(s)), s);
  });
});

describe('VW arguments → Focal configuration', () => {
  it('maps Personalizer\'s lines onto strategies and learners', () => {
    const c = parsePolicyArguments('--cb_explore_adf --epsilon 0.2 --dsjson --cb_type ips -l 0.5 --l1 1E-07 --power_t 0.5 -q ::');
    assert.deepEqual(c.strategy, { name: 'epsilon-greedy', epsilon: 0.2 });
    assert.equal(c.learner.name, 'linear');
    const l = c.learner as Record<string, unknown>;
    assert.deepEqual([l.learningRate, l.importanceWeighted, l.interactions], [0.5, true, [['context', 'action']]]);
    assert.deepEqual(parsePolicyArguments('--cb_explore_adf').strategy, { name: 'epsilon-greedy', epsilon: 0.05 });
    assert.deepEqual(parsePolicyArguments('--cb_explore_adf').learner.interactions, []);
    assert.deepEqual(parsePolicyArguments('--cb_explore_adf --softmax --lambda 3').strategy, { name: 'softmax', lambda: 3 });
    assert.deepEqual(parsePolicyArguments('--cb_explore_adf --squarecb').strategy, { name: 'squarecb', gamma: 10, gammaExponent: 0.5 });
    assert.deepEqual(parsePolicyArguments('--cb_explore_adf --bag 4 --greedify').strategy, { name: 'bagging', bags: 4, greedify: true });
    assert.equal(parsePolicyArguments('--cb_explore_adf --cb_type dm').learner.importanceWeighted, false);
    const learner = parsePolicyArguments('--cb_explore_adf --epsilon=0.3 -l0.1 -b 20').learner as Record<string, unknown>;
    assert.deepEqual([learner.learningRate, learner.bits], [0.1, 20]);
    const thompson = parsePolicyArguments('--cb_explore_adf --focal_strategy {"name":"thompson","scale":2}');
    assert.deepEqual([thompson.strategy, thompson.learner.name], [{ name: 'thompson', scale: 2 }, 'bayes-linear']);
  });

  it('refuses what it cannot map, naming the flag', () => {
    const cases: [string, string][] = [
      ['--epsilon 0.1', '--cb_explore_adf'], ['--cb_explore_adf --epsilon 1.5', '--epsilon'], ['--cb_explore_adf --epsilon', '--epsilon'],
      ['--cb_explore_adf --epsilon x', '--epsilon'], ['--cb_explore_adf --cover 3', '--cover'], ['--cb_explore_adf --first 2', '--first'],
      ['--cb_explore_adf --power_t 0', '--power_t'], ['--cb_explore_adf --l1 0.01', '--l1'], ['--cb_explore_adf --cb_type dr', '--cb_type'],
      ['--cb_explore_adf -q GT', '-q'], ['--cb_explore_adf --softmax --epsilon 0.1', '--epsilon'], ['--cb_explore_adf --lambda 2', '--lambda'],
      ['--cb_explore_adf -b 30', '-b'], ['--cb_explore_adf -l 0', '-l'], ['--cb_explore_adf --nope', '--nope'], ['--cb_explore_adf oops', 'oops'],
      ['--cb_explore_adf --epsilon 0.1 --epsilon 0.2', '--epsilon'], ['--cb_explore_adf --focal_strategy {bad}', '--focal_strategy'],
      ['--cb_explore_adf --focal_learner {"name":"linear"} -l 0.1', '--focal_learner'],
    ];
    for (const [line, flag] of cases) {
      assert.throws(() => parsePolicyArguments(line), (err: unknown) => err instanceof PolicyArgumentError && err.flag === flag && err.message.includes(flag), line);
    }
  });

  it('formats every configuration as a line that maps back onto it', () => {
    const lines = ['--cb_explore_adf --epsilon 0.2 -q ::', '--cb_explore_adf --softmax --lambda 3 --cb_type dm --l2 0.01', '--cb_explore_adf --squarecb --gamma_scale 50',
      '--cb_explore_adf --bag 3', '--cb_explore_adf --focal_strategy {"name":"linucb","alpha":2}', '--cb_explore_adf --focal_strategy {"name":"greedy","minProbability":0.01}',
      '--cb_explore_adf --focal_learner {"name":"linear","interactions":[["user","action"]]}'];
    for (const line of lines) {
      const config = parsePolicyArguments(line);
      assert.deepEqual(parsePolicyArguments(formatPolicyArguments(config)), config, line);
    }
  });
});
