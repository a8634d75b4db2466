import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/**
 * Prometheus's own checker on deploy/: the configuration, the alert rules and every dashboard query parsed by
 * promtool (Debian package `prometheus`, installed by .ci/run where available). Skipped, and said so, without it.
 */
const DEPLOY = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'deploy');
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const skip = promtool ? false : 'promtool is not installed (apt-get install prometheus)';

function run(args: string[], cwd: string): string {
  const out = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  assert.equal(out.status, 0, `promtool ${args.join(' ')}:\n${out.stdout}${out.stderr}`);
  return out.stdout + out.stderr;
}

describe('promtool on deploy/prometheus and the dashboard queries', { skip }, () => {
  it('accepts prometheus.yml with its rule file, and the alert rules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'focal-promtool-'));
    try {
      // The config names the rule file by its path inside the container; point it at the repository's copy.
      const config = readFileSync(join(DEPLOY, 'prometheus/prometheus.yml'), 'utf8').replace('/etc/prometheus/alerts.yml', join(DEPLOY, 'prometheus/alerts.yml'));
      writeFileSync(join(dir, 'prometheus.yml'), config);
      assert.match(run(['check', 'config', join(dir, 'prometheus.yml')], dir), /SUCCESS: 1 rule files found/);
      assert.match(run(['check', 'rules', join(DEPLOY, 'prometheus/alerts.yml')], dir), /SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses every dashboard query (as recording rules, Grafana variables substituted)', () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/focal.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const rules = exprs.map((expr, i) => ({
      record: `focal:dashboard_query_${i}`,
      expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$model', '.*'),
    }));
    const dir = mkdtempSync(join(tmpdir(), 'focal-promtool-'));
    try {
      writeFileSync(join(dir, 'dashboard.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
      assert.match(run(['check', 'rules', join(dir, 'dashboard.yml')], dir), new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fires the alerts on the series they are written for (deploy/prometheus/alerts.test.yml)', () => {
    assert.match(run(['test', 'rules', 'alerts.test.yml'], join(DEPLOY, 'prometheus')), /SUCCESS/);
  });
});
