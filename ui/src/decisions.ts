/** The decision browser: a model's recent decisions with context, PMF, chosen action and reward; one by its event id. */
import { call, focal, message, ok } from './api.js';
import { clear, errorLine, fmt, h, select, time, type View } from './dom.js';

type Decision = Awaited<ReturnType<typeof getDecision>>;

function getDecision(id: string) {
  return call(ok(focal.GET('/events/{id}', { params: { path: { id } } })));
}

export function decisionsView(root: HTMLElement, models: string[], initial: string | undefined): View {
  let model = initial && models.includes(initial) ? initial : models[0];
  const list = h('div', { 'data-testid': 'decisions' });
  const found = h('div', { 'data-testid': 'decision-found' });
  const search = h('input', { type: 'search', placeholder: 'event id', size: 40, 'data-testid': 'event-search' });
  const find = async () => {
    const id = search.value.trim();
    if (!id) return;
    try {
      clear(found, decisionCard(await getDecision(id), true));
    } catch (err) {
      clear(found, errorLine(message(err)));
    }
  };
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') void find(); });

  const page = async (before?: string) => {
    if (!model) return;
    try {
      const r = await call(ok(focal.GET('/models/{name}/events', { params: { path: { name: model }, query: { limit: 25, ...(before ? { before } : {}) } } })));
      if (!before) list.replaceChildren();
      list.querySelector('.more')?.remove();
      if (r.events.length === 0 && !before) list.append(h('p', { class: 'muted' }, 'No decision logged yet.'));
      for (const d of r.events) list.append(decisionCard(d, false));
      if (r.next) list.append(h('button', { type: 'button', class: 'more', onclick: () => { void page(r.next!); } }, 'Older'));
    } catch (err) {
      clear(list, errorLine(message(err)));
    }
  };

  clear(root,
    h('h2', {}, 'Decisions'),
    h('p', {}, 'Model ', select(models, model, (v) => { model = v; void page(); }), ' ',
      h('button', { type: 'button', onclick: () => { void page(); } }, 'Refresh'), ' · Find ', search, ' ',
      h('button', { type: 'button', onclick: () => { void find(); } }, 'Find')),
    found, list);
  void page();
  return { stop: () => {} };
}

function decisionCard(d: Decision, open: boolean): HTMLElement {
  const reward = d.reward === null ? (d.closed ? 'none' : 'pending') : fmt(d.reward);
  const pmf = d.actions.map((a, i) => ({ id: (a as { id: string }).id, p: d.pmf[i] ?? 0, chosen: i === d.chosen }));
  return h('details', { class: 'decision', open, 'data-event': d.eventId },
    h('summary', {},
      h('span', { class: 'muted' }, time(d.createdAt)), ' ', h('code', {}, d.eventId), ' → ', h('strong', {}, d.action ?? '?'),
      ` p=${fmt(d.probability)} · reward ${reward}`, d.closedReason ? h('span', { class: 'muted' }, ` (${d.closedReason})`) : null),
    h('div', { class: 'decision-body' },
      h('div', {}, h('h4', {}, 'PMF'), h('table', { class: 'pmf' }, ...pmf.map((a) => h('tr', { class: a.chosen ? 'chosen' : '' },
        h('td', {}, a.id), h('td', { class: 'num' }, fmt(a.p)),
        h('td', {}, h('div', { class: 'bar', style: `width:${Math.round(a.p * 200)}px` })))))),
      h('div', {}, h('h4', {}, 'Context'), h('pre', {}, JSON.stringify(d.context, null, 2))),
      h('div', {}, h('h4', {}, 'Details'), h('pre', {}, JSON.stringify({
        model: d.model, strategy: d.strategy, modelVersion: d.modelVersion, rewardCount: d.rewardCount, closed: d.closed, scores: d.scores,
      }, null, 2)))));
}
