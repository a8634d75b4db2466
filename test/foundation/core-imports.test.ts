import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

/**
 * The learning cores (src/bandit, src/attention) import tfjs, a few node built-ins and the tensor backend's set-up,
 * nothing else: eslint.config.js says so as an allow-list, and `npm run lint` runs in CI. These cases hold the
 * rule to its word through ESLint's own API, on code placed at each depth of each core.
 */
const eslint = new ESLint();

async function refused(filePath: string, source: string): Promise<boolean> {
  const [result] = await eslint.lintText(`${source}\nexport const used = imported;\n`, { filePath });
  return result!.messages.some((m) => m.ruleId === 'no-restricted-imports');
}

describe('imports of the learning cores', () => {
  const cases: [file: string, source: string, refusedExpected: boolean][] = [
    ['src/bandit/x.ts', "import imported from 'express';", true],
    ['src/bandit/x.ts', "import imported from 'ajv/dist/2020.js';", true],
    ['src/attention/x.ts', "import imported from 'sharp';", true],
    ['src/attention/x.ts', "import * as imported from 'node:http';", true],
    ['src/bandit/learners/x.ts', "import { metrics as imported } from '../../platform/metrics.js';", true],
    ['src/bandit/x.ts', "import { Capability as imported } from '../capability.js';", true],
    ['src/attention/x.ts', "import { logger as imported } from '../platform/logger.js';", true],
    ['src/bandit/optimizer/x.ts', "import { x as imported } from '../../decisions/decide.js';", true],
    // What the cores may use.
    ['src/attention/x.ts', "import * as imported from '@tensorflow/tfjs';", false],
    ['src/attention/x.ts', "import { readFileSync as imported } from 'node:fs';", false],
    ['src/attention/x.ts', "import { setBackend as imported } from '../platform/tensor-backend.js';", false],
    ['src/bandit/optimizer/x.ts', "import { doublyRobustTerm as imported } from '../evaluation/estimators.js';", false],
    ['src/bandit/x.ts', "import { Xoshiro128 as imported } from './random/seeded-rng.js';", false],
  ];
  for (const [file, source, expected] of cases) {
    it(`${expected ? 'refuses' : 'allows'} ${source.replace(/^import .* from '(.*)';$/, '$1')} in ${file}`, async () => {
      assert.equal(await refused(file, source), expected);
    });
  }

  it('does not hold the service outside the cores to the same rule', async () => {
    assert.equal(await refused('src/decisions/x.ts', "import imported from 'express';"), false);
  });
});
