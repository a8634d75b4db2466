import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLIENT_FILES, clientFiles, servedOpenApi } from '../../scripts/client-schema.js';

// The typed client's committed OpenAPI document and generated types must be what `npm run client:generate`
// produces from the app now: a route or schema change without regenerating fails here.
describe('clients/typescript generated files', () => {
  it('match the OpenAPI document the app serves (run `npm run client:generate` after changing a route)', async () => {
    const expected = await clientFiles(await servedOpenApi());
    for (const key of ['openapi', 'schema'] as const) {
      const committed = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../..', CLIENT_FILES[key]), 'utf8');
      assert.ok(committed === expected[key],
        `${CLIENT_FILES[key]} is out of date: run \`npm run client:generate\` and commit the result (first difference at character ${firstDifference(committed, expected[key])})`);
    }
  });
});

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
