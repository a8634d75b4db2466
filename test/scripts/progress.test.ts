import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { toDsjson } from '../../src/evaluation/dsjson.js';
import { progress } from '../../scripts/lib/progress.js';
import { call, killAll, startFocal, type FocalProcess } from '../server-process.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

function sink(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = new Writable({ write(chunk, _enc, done) { text += String(chunk); done(); } }) as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

describe('progress off a terminal', () => {
  it('prints plain lines: one when it starts, one per tenth, and always the last', () => {
    const out = sink();
    const p = progress('work', 1000, { stream: out.stream, tty: false, unit: 'items', minSeconds: 0 });
    for (let i = 1; i <= 1000; i++) p.update(i, { loss: '0.5' });
    p.stop();
    const lines = out.text().trim().split('\n');
    assert.deepEqual(lines.map((l) => /\((\d+)\//.exec(l)![1]), ['1', '100', '200', '300', '400', '500', '600', '700', '800', '900', '1000']);
    assert.match(lines[1]!, /^work: 10% \(100\/1000 items\), [0-9.]+ s, loss 0\.5$/);
    assert.match(lines.at(-1)!, /^work: 100% \(1000\/1000 items\)/);
    assert.ok(!out.text().includes('\u001b['), 'no terminal escape codes');
  });

  it('does not print more often than minSeconds, except the end', () => {
    const out = sink();
    const p = progress('slow', 50, { stream: out.stream, tty: false, minSeconds: 3600 });
    for (let i = 1; i <= 50; i++) p.update(i);
    assert.deepEqual(out.text().trim().split('\n').map((l) => l.replace(/, [0-9.]+ s$/, '')), ['slow: 2% (1/50)', 'slow: 100% (50/50)']);
  });
});

describe('npm run import:log', { timeout: 120_000 }, () => {
  let focal: FocalProcess;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'focal-import-'));
    focal = await startFocal({ FOCAL_DATA_DIR: join(dir, 'data'), FOCAL_MODELS_DIR: join(dir, 'no-models') });
    assert.equal((await call(focal.base, 'PUT', '/models/imported', {})).status, 200);
  });
  after(() => { killAll(); rmSync(dir, { recursive: true, force: true }); });

  const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => toDsjson({
    eventId: `imp-${from + i}`, createdAt: Date.parse('2026-11-01T00:00:00Z') + (from + i) * 1000, context: { user: { k: i % 3 } },
    actions: [{ id: 'a' }, { id: 'b' }], pmf: [0.5, 0.5], chosen: i % 2, probability: 0.5, reward: i % 4 === 0 ? null : 1,
  }));
  const importLog = (file: string, ...extra: string[]) => run(process.execPath, ['--import', 'tsx', 'scripts/import-log.ts', '--model', 'imported', '--file', file, '--url', focal.base, ...extra], { cwd: ROOT });

  it('imports a file in batches with progress lines (not a terminal) and reports what it did', async () => {
    const file = join(dir, 'good.dsjson');
    writeFileSync(file, `${lines(120).join('\n')}\n`);
    const { stdout, stderr } = await importLog(file, '--batch', '50');
    assert.match(stdout, /imported 120 events into imported \(90 learned\) from 120 lines/);
    assert.match(stderr, /import into imported: 100% \(\d+\/\d+ bytes\).*imported 120, learned 90/);
    // Imported decisions keep their (older) times: the log's count is the one that covers them.
    const model = await call(focal.base, 'GET', '/models/imported');
    assert.equal((model.body.stats as { log: { events: number } }).log.events, 120);
  });

  it('stops at a refused batch, naming its lines; the batches before it are kept', async () => {
    const file = join(dir, 'bad.dsjson');
    const content = lines(30, 1000);
    content[24] = '{"EventId": "broken"';
    writeFileSync(file, `${content.join('\n')}\n`);
    const failed = await importLog(file, '--batch', '10').then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.ok(failed, 'exits non-zero');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /lines 21–30 refused/);
    assert.match(failed.stderr, /line 25: /);
    assert.match(failed.stderr, /20 events imported before them; go on with --skip-lines 20/);
    const model = await call(focal.base, 'GET', '/models/imported');
    assert.equal((model.body.stats as { log: { events: number } }).log.events, 140);
  });
});
