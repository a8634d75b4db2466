import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_VARS } from '../../src/platform/config.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('shows the two quick-start commands', () => {
    assert.ok(readme.includes('npm ci && npm start'));
    assert.ok(readme.includes('npm test'));
  });

  it('documents every configuration variable with its default', () => {
    for (const v of CONFIG_VARS) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${v.name}\` |`));
      assert.ok(row, `README has no row for ${v.name}`);
      assert.ok(row.includes(v.default === undefined ? 'unset' : `\`${v.default}\``), `README default for ${v.name} is not ${v.default}`);
    }
  });
});
