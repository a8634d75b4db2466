/**
 * The image playground: draw a digit (or upload an image), classify it with ?input=true, and step through the
 * glimpses on the model's own input (the coordinates refer to it: a 28×28 model sees the ink cropped and centred).
 */
import { call, focal, message, ok } from './api.js';
import { classifyImage, type Classification } from '../../clients/typescript/src/index.js';
import { clear, errorLine, fmt, h, pct, select, type View } from './dom.js';

const DRAW = 280;
const VIEW = 336;
const GLIMPSE_COLORS = ['#f97316', '#22c55e', '#3b82f6', '#eab308', '#ec4899', '#14b8a6', '#a855f7', '#ef4444'];

type Result = Classification & { input?: { size: number; pixels: string } };

export function playgroundView(root: HTMLElement): View {
  let timer: ReturnType<typeof setInterval> | undefined;
  let models: { name: string; classes: string[]; imageSize: number; input?: string }[] = [];
  let model = 'mnist';
  let upload: Blob | null = null;
  let result: Result | null = null;
  let step = 0;

  const pad = h('canvas', { width: DRAW, height: DRAW, class: 'pad', 'data-testid': 'draw' });
  const view = h('canvas', { width: VIEW, height: VIEW, class: 'glimpses', 'data-testid': 'glimpse-view' });
  const out = h('div', { class: 'result', 'data-testid': 'classification' });
  const stepper = h('div', { class: 'row' });
  const feedback = h('div', {});
  const modelPicker = h('span', {});
  const file = h('input', { type: 'file', accept: 'image/*', 'data-testid': 'upload' });
  const pen = pad.getContext('2d')!;

  const blank = () => {
    pen.fillStyle = '#000';
    pen.fillRect(0, 0, DRAW, DRAW);
    upload = null;
  };
  blank();
  // White ink on black, as MNIST: a thick round pen about as wide as a digit's stroke at 28×28.
  let last: { x: number; y: number } | null = null;
  const at = (e: PointerEvent) => {
    const r = pad.getBoundingClientRect();
    return { x: (e.clientX - r.left) * (DRAW / r.width), y: (e.clientY - r.top) * (DRAW / r.height) };
  };
  pad.addEventListener('pointerdown', (e) => { upload = null; last = at(e); pad.setPointerCapture(e.pointerId); line(last, last); });
  pad.addEventListener('pointermove', (e) => { if (!last) return; const p = at(e); line(last, p); last = p; });
  pad.addEventListener('pointerup', () => { last = null; });
  const line = (a: { x: number; y: number }, b: { x: number; y: number }) => {
    pen.strokeStyle = '#fff';
    pen.lineWidth = 22;
    pen.lineCap = 'round';
    pen.beginPath();
    pen.moveTo(a.x, a.y);
    pen.lineTo(b.x, b.y);
    pen.stroke();
  };
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (!f) return;
    upload = f;
    const img = new Image();
    img.onload = () => { blank(); upload = f; pen.drawImage(img, 0, 0, DRAW, DRAW); URL.revokeObjectURL(img.src); };
    img.src = URL.createObjectURL(f);
  });

  const classify = async () => {
    const blob = upload ?? await new Promise<Blob>((resolve, reject) => pad.toBlob((b) => (b ? resolve(b) : reject(new Error('canvas is empty'))), 'image/png'));
    clear(out, h('p', { class: 'muted' }, 'Classifying…'));
    try {
      result = await call(classifyImage(focal, blob, { contentType: blob.type || 'image/png', query: { model, input: true } })) as Result;
      step = result.glimpses.length;
      renderResult();
      play();
    } catch (err) {
      clear(out, errorLine(message(err)));
    }
  };

  const play = () => {
    if (timer) clearInterval(timer);
    if (!result) return;
    step = 0;
    timer = setInterval(() => {
      if (!result || step >= result.glimpses.length) { if (timer) clearInterval(timer); timer = undefined; return; }
      step++;
      drawGlimpses();
    }, 450);
  };

  const renderResult = () => {
    if (!result) return;
    const r = result;
    const classes = models.find((m) => m.name === r.model)?.classes ?? Object.keys(r.probabilities);
    const probs = classes.map((c) => ({ c, p: r.probabilities[c] ?? 0 }));
    clear(out,
      h('p', { class: 'label' }, 'Label ', h('strong', { 'data-testid': 'label' }, r.label), ` (${pct(r.confidence)}), ${fmt(r.latencyMs, 1)} ms, event `, h('code', {}, r.eventId)),
      h('table', { class: 'pmf', 'data-testid': 'probabilities' }, ...probs.map(({ c, p }) => h('tr', { class: c === r.label ? 'chosen' : '' },
        h('td', {}, c), h('td', { class: 'num' }, pct(p)), h('td', {}, h('div', { class: 'bar', style: `width:${Math.round(p * 200)}px` }))))));
    const truth = select(classes, r.label, () => {});
    const sent = h('span', { 'data-testid': 'feedback' });
    clear(feedback, h('p', {}, 'True label ', truth, ' ', h('button', { type: 'button', 'data-testid': 'send-label', onclick: async () => {
      try {
        const res = await call(ok(focal.POST('/reward', { body: { eventId: r.eventId, label: truth.value } as never })));
        const body = res as Record<string, unknown>;
        clear(sent, `Sent: ${body.correct === true ? 'the model was right' : body.correct === false ? `the model said ${String(body.predicted ?? r.label)}` : 'recorded'}.`);
      } catch (err) {
        clear(sent, errorLine(message(err)));
      }
    } }, 'Send label'), ' ', sent));
    drawGlimpses();
  };

  const drawGlimpses = () => {
    const ctx = view.getContext('2d')!;
    ctx.fillStyle = '#111';
    ctx.fillRect(0, 0, VIEW, VIEW);
    if (!result?.input) return;
    const { size, pixels } = result.input;
    const bytes = Uint8Array.from(atob(pixels), (c) => c.charCodeAt(0));
    const img = new ImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      const v = bytes[i] ?? 0;
      img.data[i * 4] = v; img.data[i * 4 + 1] = v; img.data[i * 4 + 2] = v; img.data[i * 4 + 3] = 255;
    }
    const small = document.createElement('canvas');
    small.width = size; small.height = size;
    small.getContext('2d')!.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, VIEW, VIEW);
    const k = VIEW / size;
    const shown = result.glimpses.slice(0, step);
    // The path between glimpse centres, then each glimpse's patches (one square per scale).
    ctx.strokeStyle = 'rgba(255,255,255,0.5)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    shown.forEach((g, i) => {
      const x = ((g.x + 1) / 2) * VIEW;
      const y = ((g.y + 1) / 2) * VIEW;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    shown.forEach((g, i) => {
      const color = GLIMPSE_COLORS[i % GLIMPSE_COLORS.length]!;
      const x = ((g.x + 1) / 2) * VIEW;
      const y = ((g.y + 1) / 2) * VIEW;
      const current = i === shown.length - 1;
      ctx.strokeStyle = color;
      ctx.lineWidth = current ? 2.5 : 1;
      ctx.globalAlpha = current ? 1 : 0.45;
      for (const s of g.sizes) ctx.strokeRect(x - (s * k) / 2, y - (s * k) / 2, s * k, s * k);
      ctx.globalAlpha = 1;
      ctx.fillStyle = color;
      ctx.font = 'bold 14px system-ui, sans-serif';
      ctx.fillText(String(g.step), x + 4, y - 4);
    });
    view.dataset.step = String(step);
    view.dataset.glimpses = String(result.glimpses.length);
    clear(stepper,
      h('button', { type: 'button', onclick: () => { step = Math.max(0, step - 1); drawGlimpses(); } }, '◀'),
      h('span', { 'data-testid': 'glimpse-step' }, ` glimpse ${step} of ${result.glimpses.length} `),
      h('button', { type: 'button', onclick: () => { step = Math.min(result!.glimpses.length, step + 1); drawGlimpses(); } }, '▶'),
      h('button', { type: 'button', onclick: play }, 'Replay'));
  };

  clear(root,
    h('h2', {}, 'Image playground'),
    h('p', { class: 'muted' }, 'Draw a digit (white on black, as MNIST) or upload a picture, classify it, watch where the model looked, then send the true label: the model learns from it.'),
    h('div', { class: 'playground' },
      h('div', {}, pad, h('div', { class: 'row' },
        h('button', { type: 'button', 'data-testid': 'classify', onclick: () => { void classify(); } }, 'Classify'),
        h('button', { type: 'button', onclick: () => { blank(); result = null; clear(out); clear(feedback); clear(stepper); drawGlimpses(); } }, 'Clear'),
        file), h('p', {}, 'Model ', modelPicker)),
      h('div', {}, view, stepper),
      h('div', {}, out, feedback)));
  drawGlimpses();

  void (async () => {
    try {
      models = (await call(ok(focal.GET('/image-models')))).models as typeof models;
      if (!models.some((m) => m.name === model)) model = models[0]?.name ?? model;
      clear(modelPicker, select(models.map((m) => m.name), model, (v) => { model = v; }, { 'data-testid': 'image-model' }),
        ' ', h('span', { class: 'muted' }, models.find((m) => m.name === model)?.input === 'canvas' ? '(reads the whole canvas)' : ''));
    } catch (err) {
      clear(modelPicker, errorLine(message(err)));
    }
  })();
  return { stop: () => { if (timer) clearInterval(timer); } };
}
