/** Charts with uPlot (a small, well-kept canvas charting library): time series, and estimates with their intervals. */
import uPlot from 'uplot';
import { h } from './dom.js';

const instances = new WeakMap<Element, uPlot>();

/** Frees the charts under `el` (uPlot listens to window resizes) before they are replaced. */
export function destroyCharts(el: Element): void {
  for (const c of el.querySelectorAll('figure.chart')) instances.get(c)?.destroy();
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];

export interface TimeSeries {
  label: string;
  values: (number | null)[];
  /** Draw as bars (counts) rather than a line. */
  bars?: boolean;
}

/** A chart of values over time (`times` in seconds since the epoch) in a new element. */
export function timeChart(title: string, times: number[], series: TimeSeries[], width = 560, height = 200): HTMLElement {
  const box = h('figure', { class: 'chart', 'data-chart': title, 'data-points': series[0]?.values.filter((v) => v !== null && v !== 0).length ?? 0 },
    h('figcaption', {}, title));
  const opts: uPlot.Options = {
    width, height,
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label, stroke: COLORS[i % COLORS.length]!, width: 1.5, spanGaps: false, points: { show: true, size: 4 },
        ...(s.bars ? { paths: uPlot.paths.bars!({ size: [0.8, 20] }), fill: `${COLORS[i % COLORS.length]!}55` } : {}),
      })),
    ],
    axes: [{}, { size: 56 }],
    legend: { show: true },
  };
  instances.set(box, new uPlot(opts, [times, ...series.map((s) => s.values)] as uPlot.AlignedData, box));
  return box;
}

export interface Interval {
  name: string;
  value: number;
  lo: number;
  hi: number;
}

/**
 * Each policy's estimate as a point with its interval as a whisker, one column per policy (a forest plot):
 * uPlot draws the axes and points, a draw hook the whiskers.
 */
export function intervalChart(title: string, rows: Interval[], width = 560, height = 240): HTMLElement {
  const box = h('figure', { class: 'chart', 'data-chart': title, 'data-points': rows.length }, h('figcaption', {}, title));
  const xs = rows.map((_, i) => i);
  const lo = Math.min(...rows.map((r) => r.lo));
  const hi = Math.max(...rows.map((r) => r.hi));
  const pad = (hi - lo) * 0.1 || 0.05;
  const opts: uPlot.Options = {
    width, height,
    scales: { x: { time: false, range: [-0.5, rows.length - 0.5] }, y: { range: [lo - pad, hi + pad] } },
    series: [{}, { label: 'estimate', stroke: COLORS[0]!, paths: () => null, points: { show: true, size: 9, fill: COLORS[0]! } }],
    axes: [
      { splits: () => xs, values: (_u, splits) => splits.map((i) => rows[i]?.name ?? ''), grid: { show: false } },
      { size: 56 },
    ],
    legend: { show: false },
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = COLORS[0]!;
        ctx.lineWidth = 2 * devicePixelRatio;
        rows.forEach((r, i) => {
          const x = u.valToPos(i, 'x', true);
          const y0 = u.valToPos(r.lo, 'y', true);
          const y1 = u.valToPos(r.hi, 'y', true);
          const cap = 6 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x, y0); ctx.lineTo(x, y1);
          ctx.moveTo(x - cap, y0); ctx.lineTo(x + cap, y0);
          ctx.moveTo(x - cap, y1); ctx.lineTo(x + cap, y1);
          ctx.stroke();
        });
        ctx.restore();
      }],
    },
  };
  instances.set(box, new uPlot(opts, [xs, rows.map((r) => r.value)], box));
  return box;
}
