/** Offline evaluations: start one, watch its progress, see each policy's estimates with their intervals, apply one. */
import { call, focal, message, ok } from './api.js';
import { destroyCharts, intervalChart } from './charts.js';
import { clear, errorLine, fmt, h, select, time, type View } from './dom.js';

const EXAMPLE = JSON.stringify([
  { name: 'eps05', config: { strategy: { name: 'epsilon-greedy', epsilon: 0.05 } } },
  { name: 'greedy', config: { strategy: { name: 'greedy', minProbability: 0.01 } } },
], null, 2);

type Evaluation = Awaited<ReturnType<typeof getEvaluation>>;
type Estimate = { value?: number; ci?: number[] };

function getEvaluation(model: string, id: string) {
  return call(ok(focal.GET('/models/{name}/evaluations/{id}', { params: { path: { name: model, id } } })));
}

export function evaluationsView(root: HTMLElement, models: string[], initial: string | undefined): View {
  let model = initial && models.includes(initial) ? initial : models[0];
  let poll: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const list = h('div', { 'data-testid': 'evaluations' });
  const result = h('section', { class: 'detail', 'data-testid': 'evaluation' });
  const policies = h('textarea', { rows: 8, cols: 70, spellcheck: 'false', 'data-testid': 'policies' }, EXAMPLE);
  const importance = h('input', { type: 'checkbox' });
  const status = h('span', { class: 'muted' });
  const startButton = h('button', { type: 'button', 'data-testid': 'start-evaluation', onclick: () => { void start(); } }, 'Start evaluation');

  const start = async () => {
    if (!model) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(policies.value);
    } catch (err) {
      clear(status, errorLine(`Policies: ${message(err)}`));
      return;
    }
    try {
      const created = await call(ok(focal.POST('/models/{name}/evaluations', {
        params: { path: { name: model } }, body: { policies: parsed as never, featureImportance: importance.checked },
      })));
      clear(status, `Started ${created.id}`);
      await refreshList();
      watch(created.id);
    } catch (err) {
      clear(status, errorLine(message(err)));
    }
  };

  const refreshList = async () => {
    if (!model) return;
    try {
      const all = await call(ok(focal.GET('/models/{name}/evaluations', { params: { path: { name: model } } })));
      const rows = (all as { evaluations?: Evaluation[] }).evaluations ?? [];
      clear(list, rows.length === 0 ? h('p', { class: 'muted' }, 'No evaluation of this model yet.') : h('table', {},
        h('thead', {}, h('tr', {}, ...['Created', 'Status', 'Events', 'Best', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, ...rows.map((e) => h('tr', {},
          h('td', {}, e.createdAt ? time(e.createdAt) : '–'), h('td', {}, e.status), h('td', { class: 'num' }, fmt(e.events)),
          h('td', {}, (e.best as string | null | undefined) ?? '–'),
          h('td', {}, h('button', { type: 'button', onclick: () => watch(e.id) }, 'Show')))))));
    } catch (err) {
      clear(list, errorLine(message(err)));
    }
  };

  const watch = (id: string) => {
    if (poll) clearTimeout(poll);
    const tick = async () => {
      if (stopped || !model) return;
      try {
        const e = await getEvaluation(model, id);
        renderEvaluation(result, model, e);
        if (e.status === 'pending' || e.status === 'running') poll = setTimeout(() => { void tick(); }, 400);
        else void refreshList();
      } catch (err) {
        clear(result, errorLine(message(err)));
      }
    };
    void tick();
  };

  clear(root,
    h('h2', {}, 'Offline evaluations'),
    h('p', {}, 'Model ', select(models, model, (v) => { model = v; clear(result); void refreshList(); }, { 'data-testid': 'evaluation-model' })),
    h('details', { open: true }, h('summary', {}, 'New evaluation'),
      h('p', { class: 'muted' }, 'Candidate policies (name and configuration, as in PUT /models/{name}); online, baseline and uniform are always estimated.'),
      policies, h('p', {}, h('label', {}, importance, ' feature importance')), h('p', {}, startButton, ' ', status)),
    list, result);
  void refreshList();
  return { stop: () => { stopped = true; if (poll) clearTimeout(poll); } };
}

function renderEvaluation(root: HTMLElement, model: string, e: Evaluation): void {
  destroyCharts(root);
  const progress = h('progress', { max: 1, value: e.progress ?? 0, 'data-testid': 'evaluation-progress' });
  const head = h('p', { 'data-testid': 'evaluation-status', 'data-status': e.status },
    `${e.status} — ${fmt(e.events)} events `, progress, ` ${Math.round((e.progress ?? 0) * 100)}%`);
  if (e.status !== 'completed') {
    clear(root, h('h3', {}, `Evaluation ${e.id}`), head, e.error ? errorLine(e.error) : null);
    return;
  }
  const policies = (e.policies ?? []) as { name?: string; source?: string; estimates?: Record<string, Estimate>; effectiveSampleSize?: number }[];
  const applied = h('span', { class: 'muted' });
  const rows = policies.map((p) => ({ p, dr: p.estimates?.dr, ips: p.estimates?.ips, snips: p.estimates?.snips }));
  const intervals = rows.filter((r) => r.dr?.value !== undefined && r.dr.ci?.length === 2)
    .map((r) => ({ name: r.p.name ?? '?', value: r.dr!.value!, lo: r.dr!.ci![0]!, hi: r.dr!.ci![1]! }));
  const apply = async (policy: string) => {
    try {
      await call(ok(focal.POST('/models/{name}/evaluations/{id}/apply', { params: { path: { name: model, id: e.id } }, body: { policy } })));
      clear(applied, `Applied ${policy} to ${model}.`);
    } catch (err) {
      clear(applied, errorLine(message(err)));
    }
  };
  const est = (x: Estimate | undefined) => (x?.value === undefined ? '–' : `${fmt(x.value)} [${fmt(x.ci?.[0])}, ${fmt(x.ci?.[1])}]`);
  clear(root,
    h('h3', {}, `Evaluation ${e.id}`), head,
    h('p', {}, `Best by the lower bound of its DR interval: `, h('strong', { 'data-testid': 'evaluation-best' }, (e.best as string | null | undefined) ?? '–')),
    intervals.length ? intervalChart('DR estimate with 95% interval, by policy', intervals) : null,
    h('table', {},
      h('thead', {}, h('tr', {}, ...['Policy', 'Source', 'IPS', 'SNIPS', 'DR', 'ESS', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...rows.map((r) => h('tr', { 'data-policy': r.p.name ?? '' },
        h('td', {}, r.p.name ?? '?'), h('td', {}, r.p.source ?? ''), h('td', {}, est(r.ips)), h('td', {}, est(r.snips)), h('td', {}, est(r.dr)),
        h('td', { class: 'num' }, fmt(r.p.effectiveSampleSize, 1)),
        h('td', {}, r.p.source === 'custom' ? h('button', { type: 'button', onclick: () => { void apply(r.p.name!); } }, 'Apply') : null))))),
    applied);
}
