/** A few DOM helpers: the dashboard uses no framework (a handful of views, re-rendered on demand). */

type Child = Node | string | number | null | undefined | false;
type Props = Record<string, string | number | boolean | EventListener | undefined>;

/** Creates an element: attributes and `on*` listeners from `props`, then children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'object' ? c : String(c));
}

export function fmt(n: number | null | undefined, digits = 3): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Number.isInteger(n)) return n.toLocaleString('en');
  return n.toFixed(digits);
}

export function pct(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : `${(n * 100).toFixed(1)}%`;
}

export function time(iso: string): string {
  return new Date(iso).toLocaleString();
}

/** An error line that replaces itself on the next render. */
export function errorLine(text: string): HTMLElement {
  return h('p', { class: 'error', role: 'alert' }, text);
}

/** A <select> of names; calls `onChange` with the chosen one. */
export function select(names: string[], current: string | undefined, onChange: (v: string) => void, attrs: Props = {}): HTMLSelectElement {
  const s = h('select', { ...attrs, onchange: () => onChange(s.value) }, ...names.map((n) => h('option', { value: n, selected: n === current }, n)));
  if (current !== undefined) s.value = current;
  return s;
}

/** A view: renders into `root`; `stop` ends its timers when another tab is shown. */
export interface View {
  stop(): void;
}
