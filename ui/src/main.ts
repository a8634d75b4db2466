/** The dashboard's entry: tabs by URL hash (#models/NAME, #evaluations/NAME, #decisions/NAME, #playground), the key dialog. */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { apiKey, call, focal, message, ok, onUnauthorized, setApiKey } from './api.js';
import { decisionsView } from './decisions.js';
import { clear, errorLine, h, type View } from './dom.js';
import { evaluationsView } from './evaluations.js';
import { modelsView } from './models.js';
import { playgroundView } from './playground.js';

const app = document.getElementById('app')!;
const dialog = document.getElementById('key-dialog') as HTMLDialogElement;
const keyInput = document.getElementById('key-input') as HTMLInputElement;
const keyReason = document.getElementById('key-reason')!;
let current: View | undefined;

function askForKey(reason?: string): void {
  if (dialog.open) return;
  if (reason) keyReason.textContent = reason;
  keyInput.value = apiKey() ?? '';
  dialog.showModal();
  keyInput.focus();
}

onUnauthorized((e) => askForKey(e.status === 403 ? `This view needs the admin key (FOCAL_ADMIN_KEY): ${e.detail}` : `${e.detail}`));
document.getElementById('key-button')!.addEventListener('click', () => askForKey());
const useKey = () => { setApiKey(keyInput.value.trim() || null); dialog.close(); void show(); };
document.getElementById('key-save')!.addEventListener('click', useKey);
keyInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') useKey(); });
document.getElementById('key-forget')!.addEventListener('click', () => { setApiKey(null); keyInput.value = ''; dialog.close(); void show(); });
document.getElementById('key-cancel')!.addEventListener('click', () => dialog.close());

async function modelNames(): Promise<string[]> {
  return (await call(ok(focal.GET('/models')))).models.map((m) => m.name);
}

async function show(): Promise<void> {
  current?.stop();
  current = undefined;
  const [tab = 'models', arg] = location.hash.replace(/^#/, '').split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#tabs a')) a.classList.toggle('active', a.dataset.tab === tab);
  const go = (t: string) => (name: string) => { location.hash = `#${t}/${encodeURIComponent(name)}`; };
  try {
    switch (tab) {
      case 'evaluations': current = evaluationsView(app, await modelNames(), arg); break;
      case 'decisions': current = decisionsView(app, await modelNames(), arg); break;
      case 'playground': current = playgroundView(app); break;
      default: current = modelsView(app, arg, go('models'));
    }
  } catch (err) {
    clear(app, errorLine(message(err)), h('p', {}, h('button', { type: 'button', onclick: () => askForKey() }, 'Enter an API key')));
  }
}

async function health(): Promise<void> {
  const el = document.getElementById('health')!;
  try {
    const r = await fetch('/readyz');
    el.textContent = r.ok ? 'ready' : `not ready (${r.status})`;
    el.className = r.ok ? 'ok' : 'error';
  } catch {
    el.textContent = 'unreachable';
    el.className = 'error';
  }
}

window.addEventListener('hashchange', () => { void show(); });
void show();
void health();
setInterval(() => { void health(); }, 10_000);
