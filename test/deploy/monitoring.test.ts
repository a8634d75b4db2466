import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { parse } from 'yaml';
import { createApp, type FocalApp } from '../../src/app.js';
import { CAPABILITIES } from '../../src/capabilities.js';
import { defaultConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { selectTensorBackend } from '../../src/platform/tensor-backend.js';
import { closeDatabase, openDatabase, type Db } from '../../src/store/database.js';
import { mnistTestDigit, paperPicture } from '../images/fixtures.js';
import { makeRoot, shipTestModel } from '../images/harness.js';
import { familyOf, metricNames } from './promql.js';

/**
 * deploy/: the Grafana dashboard and the Prometheus alert rules must only query metrics Focal exports, and
 * the compose file, provisioning and rule files must be what Grafana, Prometheus and Compose accept. Docker
 * is not available in CI, so the files are checked for shape and cross-references here.
 */

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(REPO, 'deploy');
const readYaml = (path: string): unknown => parse(readFileSync(join(DEPLOY, path), 'utf8'));

interface Target { refId: string; expr: string; datasource?: { type: string; uid: string } }
interface Panel { id: number; type: string; title: string; datasource?: { type: string; uid: string }; targets?: Target[]; gridPos: { h: number; w: number; x: number; y: number }; panels?: Panel[] }
interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: { name: string; query: string | { query: string } }[] } }
interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }

const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/focal.json'), 'utf8')) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const rules = (readYaml('prometheus/alerts.yml') as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** Series Prometheus itself writes for every scrape target, not exported by the app. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

describe('PromQL metric-name extractor', () => {
  it('finds the metrics and skips functions, labels, durations, strings and variables', () => {
    assert.deepEqual([...metricNames('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!="/x", status=~"5.."}[$__rate_interval])))')], ['a_bucket']);
    assert.deepEqual([...metricNames('sum(rate(a_total[5m])) by (model) / on (model) group_left(strategy) b > 1e3 and c offset 1h')].sort(), ['a_total', 'b', 'c']);
    assert.deepEqual([...metricNames('label_replace(up{job="focal"}, "x", "$1", "instance", "(.*)") == bool 0 or absent(d{model=~"$model"})')].sort(), ['d', 'up']);
    assert.deepEqual([...metricNames('max_over_time(deriv(e[30m])[1h:5m]) unless ignoring(worker) f')].sort(), ['e', 'f']);
  });
});

describe('deploy/ monitoring files', () => {
  let root: string;
  let db: Db;
  let focal: FocalApp;
  let exported: string;

  before(async () => {
    // The whole app as `npm start` mounts it (every capability, default process metrics on), with a small
    // shipped image model, exercised once so that labelled series exist.
    root = makeRoot();
    await shipTestModel(root);
    await selectTensorBackend();
    const config = defaultConfig({ dataDir: join(root, 'data'), modelsDir: join(root, 'models'), logLevel: 'silent', imageWorkers: 1 });
    db = openDatabase({ path: join(config.dataDir, 'focal.db') });
    focal = await createApp({ config, db, metrics: new Metrics({ defaultMetrics: true }), logger: createLogger('silent'), backend: 'wasm', capabilities: CAPABILITIES });
    const decided = await request(focal.app).post('/decide').send({ context: { hour: 9 }, actions: ['a', 'b'] }).expect(200);
    await request(focal.app).post('/reward').send({ eventId: decided.body.eventId, reward: 1 }).expect(200);
    const png = await paperPicture(mnistTestDigit(0).pixels, { format: 'png' });
    const classified = await request(focal.app).post('/classify-image').set('Content-Type', 'image/png').send(png).expect(200);
    await request(focal.app).post('/reward').send({ eventId: classified.body.eventId, label: '0' }).expect(200);
    await request(focal.app).post('/decide').send({ context: 'not an object' }).expect(400);
    exported = (await request(focal.app).get('/metrics').expect(200)).text;
  });
  after(async () => {
    await focal.close();
    closeDatabase(db);
    rmSync(root, { recursive: true, force: true });
  });

  /** Families declared in /metrics (`# TYPE name kind`) and the series that have a sample. */
  function scrape(): { families: Set<string>; sampled: Set<string> } {
    const families = new Set<string>();
    const sampled = new Set<string>();
    for (const line of exported.split('\n')) {
      const type = /^# TYPE (\S+) /.exec(line);
      if (type) families.add(type[1]!);
      else if (line && !line.startsWith('#')) sampled.add(/^[^{\s]+/.exec(line)![0]);
    }
    return { families, sampled };
  }

  function checkExported(where: string, expr: string, families: Set<string>): void {
    const names = metricNames(expr);
    assert.ok(names.size > 0, `${where}: no metric found in ${expr}`);
    for (const name of names) {
      if (SYNTHETIC.has(name)) continue;
      assert.ok(familyOf(name, families), `${where} queries ${name}, which GET /metrics does not export (expr: ${expr})`);
    }
  }

  it('the dashboard and the alert rules query only metrics GET /metrics exports', () => {
    const { families, sampled } = scrape();
    for (const panel of allPanels) for (const t of panel.targets ?? []) checkExported(`panel "${panel.title}"`, t.expr, families);
    for (const v of dashboard.templating.list) {
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      const metric = /^label_values\((\w+),\s*\w+\)$/.exec(query);
      assert.ok(metric, `variable ${v.name}: expected label_values(metric, label), got ${query}`);
      assert.ok(families.has(metric[1]!), `variable ${v.name} reads ${metric[1]}, which /metrics does not export`);
    }
    for (const rule of rules) checkExported(`alert ${rule.alert}`, rule.expr, families);
    // The exercised paths produced labelled samples (the dashboard's main panels are not empty on a live app).
    for (const series of ['focal_bandit_decisions_total', 'focal_bandit_rewards_total', 'focal_bandit_pending_events',
      'focal_http_request_duration_seconds_bucket', 'focal_image_classification_duration_seconds_bucket', 'focal_image_feedback_accuracy',
      'focal_image_classifications_total', 'focal_image_worker_tensors', 'focal_tensorflow_tensors', 'nodejs_eventloop_lag_p99_seconds', 'focal_ready',
      'focal_database_bytes', 'focal_log_events']) {
      assert.ok(sampled.has(series), `${series} has no sample after decide, reward and classify`);
    }
    assert.match(exported, /^focal_ready 1$/m, 'the readiness gauge reads 1 on a ready app');
    assert.match(exported, /focal_http_request_duration_seconds_count\{[^}]*route="\/decide"[^}]*status="400"/);
  });

  it('the dashboard has the shape Grafana provisions: unique ids, laid-out panels with targets on the provisioned datasource', () => {
    const provisioned = readYaml('grafana/provisioning/datasources/prometheus.yml') as { apiVersion: number; datasources: { uid: string; type: string; url: string }[] };
    assert.equal(provisioned.apiVersion, 1);
    const [source] = provisioned.datasources;
    assert.equal(source?.type, 'prometheus');
    assert.equal(typeof dashboard.uid, 'string');
    assert.equal(dashboard.title, 'Focal');
    assert.ok(Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36, 'schemaVersion of a current Grafana');
    const ids = allPanels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0));
    const graphs = allPanels.filter((p) => p.type !== 'row');
    assert.ok(graphs.length >= 20, `${graphs.length} panels`);
    for (const p of graphs) {
      assert.ok(['timeseries', 'stat', 'gauge', 'table', 'bargauge'].includes(p.type), `panel ${p.title}: type ${p.type}`);
      assert.ok(p.targets && p.targets.length > 0, `panel ${p.title} has targets`);
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: source!.uid }, `panel ${p.title} uses the provisioned datasource`);
      const refIds = p.targets.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `panel ${p.title}: unique refIds`);
      for (const t of p.targets) assert.equal(t.datasource?.uid ?? source!.uid, source!.uid);
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, `panel ${p.title}: gridPos within the 24-column grid`);
    }
    // No two panels overlap on the grid.
    for (const [i, a] of allPanels.entries()) {
      for (const b of allPanels.slice(i + 1)) {
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w
          && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        assert.ok(!overlap, `panels "${a.title}" and "${b.title}" overlap`);
      }
    }
    // What the issue asks the dashboard to show.
    const exprs = graphs.flatMap((p) => p.targets!.map((t) => t.expr)).join('\n');
    for (const needle of ['focal_bandit_decisions_total', 'focal_bandit_rewards_total', 'histogram_quantile(0.99, sum by (le, route) (rate(focal_http_request_duration_seconds_bucket',
      'focal_bandit_pending_events', 'focal_bandit_default_rewards_total', 'focal_image_classification_duration_seconds_bucket', 'focal_image_feedback_accuracy',
      'focal_tensorflow_tensors', 'focal_image_worker_tensors', 'nodejs_eventloop_lag_p99_seconds', 'focal_image_queue_depth', 'focal_image_queue_rejections_total',
      'focal_database_bytes', 'focal_storage_full']) {
      assert.ok(exprs.includes(needle), `the dashboard shows ${needle}`);
    }
  });

  it('alert rules have what Prometheus requires, and cover error rate, p99, pending growth, availability and readiness', () => {
    const doc = readYaml('prometheus/alerts.yml') as { groups: { name: string; interval?: string; rules: Rule[] }[] };
    const groupNames = doc.groups.map((g) => g.name);
    assert.equal(new Set(groupNames).size, groupNames.length, 'group names are unique');
    const duration = /^(\d+(ms|s|m|h|d|w|y))+$/;
    for (const group of doc.groups) {
      assert.ok(group.rules.length > 0, `group ${group.name} has rules`);
      for (const rule of group.rules) {
        assert.ok(typeof rule.alert === 'string' && /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(rule.alert), `alert name ${rule.alert}`);
        assert.equal(rule.record, undefined);
        assert.ok(typeof rule.expr === 'string' && rule.expr.trim().length > 0, `${rule.alert}: expr`);
        if (rule.for !== undefined) assert.match(rule.for, duration, `${rule.alert}: for`);
        assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity label`);
        assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: summary and description`);
        for (const key of Object.keys(rule)) assert.ok(['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(key), `${rule.alert}: unknown field ${key}`);
        // Balanced brackets: the commonest way a hand-edited expression breaks.
        for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']] as const) {
          assert.equal(rule.expr.split(open).length, rule.expr.split(close).length, `${rule.alert}: balanced ${open}${close}`);
        }
      }
    }
    const all = rules.map((r) => r.expr).join('\n');
    assert.match(all, /status=~"5\.\."/, 'an error-rate alert');
    assert.match(all, /histogram_quantile\(0\.99, sum by \(le, route\) \(rate\(focal_http_request_duration_seconds_bucket/, 'a p99 latency alert');
    assert.match(all, /deriv\(focal_bandit_pending_events/, 'a pending-growth alert');
    assert.match(all, /up\{job="focal"\} == 0/, 'an availability alert');
    assert.match(all, /focal_ready\{job="focal"\} == 0/, 'a readiness alert');
  });

  it('prometheus.yml scrapes the compose service and loads the mounted rule file', () => {
    const prom = readYaml('prometheus/prometheus.yml') as { rule_files: string[]; scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[] };
    const compose = readYaml('docker-compose.yml') as Compose;
    const mounts = mountsOf(compose, 'prometheus');
    for (const file of prom.rule_files) {
      const mount = mounts.find((m) => m.target === file);
      assert.ok(mount, `rule file ${file} is mounted into the prometheus container`);
      assert.equal(resolve(DEPLOY, mount.source), join(DEPLOY, 'prometheus/alerts.yml'));
    }
    const configMount = mounts.find((m) => m.target === '/etc/prometheus/prometheus.yml');
    assert.equal(resolve(DEPLOY, configMount!.source), join(DEPLOY, 'prometheus/prometheus.yml'));
    assert.ok(compose.services.prometheus!.command!.includes('--config.file=/etc/prometheus/prometheus.yml'));
    const job = prom.scrape_configs.find((j) => j.job_name === 'focal');
    assert.ok(job, 'a focal job (the dashboard and alerts filter on job="focal")');
    assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    const [host, port] = job.static_configs[0]!.targets[0]!.split(':');
    assert.ok(compose.services[host!], `scrape target ${host} is a compose service`);
    assert.ok(compose.services.focal!.ports!.some((p) => String(p).endsWith(`:${port}`)), `focal listens on ${port}`);
  });

  it('docker-compose.yml parses, builds Focal from the repository Dockerfile and mounts files that exist', () => {
    const compose = readYaml('docker-compose.yml') as Compose;
    assert.deepEqual(Object.keys(compose.services).sort(), ['focal', 'grafana', 'prometheus']);
    const focalService = compose.services.focal!;
    const context = resolve(DEPLOY, focalService.build!.context);
    assert.equal(context, REPO);
    assert.ok(existsSync(join(context, focalService.build!.dockerfile)), 'the Dockerfile exists');
    const dockerfile = readFileSync(join(context, focalService.build!.dockerfile), 'utf8');
    const volumeTarget = /VOLUME \["([^"]+)"\]/.exec(dockerfile)![1];
    assert.ok(mountsOf(compose, 'focal').some((m) => m.source === 'focal-data' && m.target === volumeTarget), 'the data volume is the image\'s data directory');
    assert.equal(focalService.environment!.FOCAL_DATA_DIR, volumeTarget);
    // Every FOCAL_* variable set is one Focal knows (its --help lists them).
    const known = readFileSync(join(REPO, 'src/platform/config.ts'), 'utf8');
    for (const key of Object.keys(focalService.environment!)) assert.ok(known.includes(`'${key}'`), `${key} is a Focal setting`);
    for (const [name, service] of Object.entries(compose.services)) {
      for (const m of mountsOf(compose, name)) {
        if (m.source.startsWith('.')) assert.ok(existsSync(resolve(DEPLOY, m.source)), `${name}: ${m.source} exists`);
        else assert.ok(m.source in (compose.volumes ?? {}), `${name}: named volume ${m.source} is declared`);
      }
      for (const dep of service.depends_on ?? []) assert.ok(compose.services[dep], `${name} depends on a defined service ${dep}`);
    }
    // Grafana: the dashboard provider's folder is where focal.json is mounted; its home dashboard points at it.
    const provider = readYaml('grafana/provisioning/dashboards/focal.yml') as { apiVersion: number; providers: { type: string; options: { path: string } }[] };
    const dashboardMount = mountsOf(compose, 'grafana').find((m) => resolve(DEPLOY, m.source) === join(DEPLOY, 'grafana/focal.json'));
    assert.ok(dashboardMount, 'focal.json is mounted into grafana');
    assert.equal(dirname(dashboardMount.target), provider.providers[0]!.options.path);
    assert.equal(compose.services.grafana!.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, dashboardMount.target);
    for (const dir of ['datasources', 'dashboards']) {
      assert.ok(mountsOf(compose, 'grafana').some((m) => m.target === `/etc/grafana/provisioning/${dir}` && resolve(DEPLOY, m.source) === join(DEPLOY, 'grafana/provisioning', dir)));
    }
    const datasource = readYaml('grafana/provisioning/datasources/prometheus.yml') as { datasources: { url: string }[] };
    const url = new URL(datasource.datasources[0]!.url);
    assert.ok(compose.services[url.hostname], 'the datasource URL names the prometheus service');
    assert.ok(compose.services.prometheus!.ports!.some((p) => String(p).endsWith(`:${url.port}`)));
  });
});

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: string[];
}
interface Compose { services: Record<string, Service>; volumes?: Record<string, unknown> }

/** Short-syntax volume entries (`source:target[:ro]`) of one service. */
function mountsOf(compose: Compose, service: string): { source: string; target: string }[] {
  return (compose.services[service]!.volumes ?? []).map((v) => {
    const [source, target] = v.split(':');
    return { source: source!, target: target! };
  });
}
