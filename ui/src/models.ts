/** Models: every bandit model's configuration and counts; the chosen one's charts over time. */
import { call, focal, message, ok } from './api.js';
import { destroyCharts, timeChart } from './charts.js';
import { clear, errorLine, fmt, h, pct, time, type View } from './dom.js';

type ModelView = Awaited<ReturnType<typeof listModels>>[number];

async function listModels() {
  return (await call(ok(focal.GET('/models')))).models;
}

/** Fields other branches may add to a model (learning modes, an optimizer): shown when present. */
interface Extras {
  mode?: string;
  apprentice?: { events: number; imitated: number; imitationRate: number | null };
  optimizer?: unknown;
}

function extras(m: ModelView): Extras {
  const config = m.config as Record<string, unknown>;
  const stats = m.stats as Record<string, unknown>;
  const view = m as unknown as Record<string, unknown>;
  return {
    ...(typeof config.mode === 'string' ? { mode: config.mode } : {}),
    ...(stats.apprentice ? { apprentice: stats.apprentice as Extras['apprentice'] } : {}),
    ...(view.optimizer !== undefined ? { optimizer: view.optimizer } : stats.optimizer !== undefined ? { optimizer: stats.optimizer } : {}),
  };
}

function describeOptimizer(o: unknown): string {
  if (o === null || o === undefined) return '–';
  if (typeof o !== 'object') return String(o);
  const r = o as Record<string, unknown>;
  const current = r.current ?? r.choice ?? r.best;
  return current !== undefined ? (typeof current === 'string' ? current : JSON.stringify(current)) : JSON.stringify(o);
}

export function modelsView(root: HTMLElement, selected: string | undefined, select: (name: string) => void): View {
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  const table = h('div', { 'data-testid': 'models' });
  const detail = h('section', { class: 'detail' });
  clear(root, h('h2', {}, 'Models'), table, detail);

  const render = async () => {
    let models: ModelView[];
    try {
      models = await listModels();
    } catch (err) {
      clear(table, errorLine(message(err)));
      return;
    }
    if (stopped) return;
    const current = selected && models.some((m) => m.name === selected) ? selected : models[0]?.name;
    clear(table, h('table', {},
      h('thead', {}, h('tr', {}, ...['Model', 'Strategy', 'Learner', 'Mode', 'Decisions', 'Pending', 'Client rewards', 'Default rewards', 'Mean reward', 'Imitation', 'Optimizer', 'Version'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...models.map((m) => {
        const x = extras(m);
        return h('tr', { class: m.name === current ? 'selected' : '', 'data-model': m.name, onclick: () => select(m.name) },
          h('td', {}, h('a', { href: `#models/${encodeURIComponent(m.name)}` }, m.name)),
          h('td', {}, m.config.strategy?.name ?? '–'), h('td', {}, m.config.learner?.name ?? '–'), h('td', {}, x.mode ?? 'online'),
          h('td', { class: 'num' }, fmt(m.stats.decisions)), h('td', { class: 'num' }, fmt(m.stats.pending)),
          h('td', { class: 'num' }, fmt(m.stats.clientRewards)), h('td', { class: 'num' }, fmt(m.stats.defaultRewards)),
          h('td', { class: 'num' }, fmt(m.stats.meanReward)), h('td', { class: 'num' }, x.apprentice ? pct(x.apprentice.imitationRate) : '–'),
          h('td', {}, x.optimizer !== undefined ? describeOptimizer(x.optimizer) : '–'), h('td', { class: 'num' }, fmt(m.version)));
      }))));
    const model = models.find((m) => m.name === current);
    if (model) await renderDetail(detail, model);
  };

  void render();
  timer = setInterval(() => { void render(); }, 5_000);
  return { stop: () => { stopped = true; if (timer) clearInterval(timer); timer = undefined; } };
}

async function renderDetail(detail: HTMLElement, m: ModelView): Promise<void> {
  const x = extras(m);
  const to = new Date(Math.ceil(Date.now() / 60_000) * 60_000);
  const from = new Date(to.getTime() - 60 * 60_000);
  let charts: HTMLElement;
  try {
    const ts = await call(ok(focal.GET('/models/{name}/timeseries', { params: { path: { name: m.name }, query: { from: from.toISOString(), to: to.toISOString(), step: '60s' } } })));
    const times = ts.points.map((p) => Date.parse(p.time) / 1000);
    charts = h('div', { class: 'charts' },
      timeChart('Decisions per second', times, [{ label: 'decisions/s', values: ts.points.map((p) => p.decisions / ts.step) }]),
      timeChart('Mean reward', times, [{ label: 'mean reward', values: ts.points.map((p) => p.meanReward) }]),
      timeChart('Rewards per minute', times, [
        { label: 'client', values: ts.points.map((p) => p.clientRewards * 60 / ts.step), bars: true },
        { label: 'default', values: ts.points.map((p) => p.defaultRewards * 60 / ts.step), bars: true },
      ]));
  } catch (err) {
    charts = errorLine(message(err));
  }
  const s = m.stats;
  destroyCharts(detail);
  clear(detail,
    h('h3', {}, m.name),
    h('div', { class: 'cards' },
      card('Decisions', fmt(s.decisions)), card('Pending', fmt(s.pending)), card('Mean reward', fmt(s.meanReward)),
      card('Rewarded events', fmt(s.rewardedEvents)), card('Updates', fmt(s.updates)),
      card('Off-policy (SNIPS)', m.offPolicy ? fmt(m.offPolicy.snips) : '–'),
      x.apprentice ? card('Apprentice imitation', `${pct(x.apprentice.imitationRate)} of ${fmt(x.apprentice.events)}`) : null,
      x.optimizer !== undefined ? card('Optimizer\'s choice', describeOptimizer(x.optimizer)) : null,
      s.log ? card('Log', `${fmt(s.log.events)} events, ${fmt(s.log.bytes / 1024, 1)} kB, kept ${s.log.retention}`) : null),
    h('p', { class: 'muted' }, `Last hour, per minute (updated every 5 s). Version ${m.version}, created ${time(m.createdAt)}, fingerprint ${s.fingerprint.slice(0, 12)}…`),
    charts,
    h('details', {}, h('summary', {}, 'Configuration'), h('pre', {}, JSON.stringify(m.config, null, 2))));
}

function card(title: string, value: string): HTMLElement {
  return h('div', { class: 'card' }, h('div', { class: 'muted' }, title), h('div', { class: 'value' }, value));
}
