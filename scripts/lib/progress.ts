/**
 * Progress of long command-line work (training, evaluation, log import, benchmarks): a bar redrawn in place on a
 * terminal (cli-progress), plain lines otherwise (a log file, CI), at most one per `lineEvery` of the total and
 * never more often than every `minSeconds`, so a log stays readable. Written to stderr: stdout keeps the results.
 */
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  /** `done` of the total so far; `values` are shown beside the bar (a loss, a rate). */
  update(done: number, values?: Record<string, string | number>): void;
  /** A new total (e.g. once it is known). */
  setTotal(total: number): void;
  /** Ends the bar (or prints the last line). */
  stop(): void;
}

export interface ProgressOptions {
  /** Defaults to process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Force the bar (true) or plain lines (false); default: a bar when the stream is a TTY. */
  tty?: boolean;
  /** Unit shown after the counts (`events`, `images`). */
  unit?: string;
  /** Plain lines: one per this share of the total (default 0.1). */
  lineEvery?: number;
  /** Plain lines: at least this many seconds apart, except the last (default 2). */
  minSeconds?: number;
}

export function progress(label: string, total: number, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const unit = options.unit ? ` ${options.unit}` : '';
  const started = performance.now();
  if (options.tty ?? stream.isTTY === true) {
    const bar = new SingleBar({
      format: `${label} {bar} {percentage}% | {value}/{total}${unit} | {duration_formatted} elapsed, ETA {eta_formatted}{extra}`,
      hideCursor: true, clearOnComplete: false, stream, etaBuffer: 50,
    }, Presets.shades_classic);
    bar.start(total, 0, { extra: '' });
    return {
      update: (done, values) => bar.update(done, { extra: values ? ` | ${format(values)}` : '' }),
      setTotal: (t) => bar.setTotal(t),
      stop: () => bar.stop(),
    };
  }
  let size = total;
  let nextPercent = 0;
  let lastLine = -Infinity;
  let last = -1;
  let lastValues: Record<string, string | number> | undefined;
  // Whole percents (integers): no floating-point drift in when a line is due.
  const percentOf = (done: number) => (size > 0 ? Math.floor((done * 100) / size) : 100);
  const line = (done: number) => {
    const seconds = (performance.now() - started) / 1000;
    stream.write(`${label}: ${percentOf(done)}% (${done}/${size}${unit}), ${seconds.toFixed(1)} s${lastValues ? `, ${format(lastValues)}` : ''}\n`);
    lastLine = performance.now();
    last = done;
  };
  return {
    update: (done, values) => {
      lastValues = values;
      const percent = percentOf(done);
      if (percent >= nextPercent && performance.now() - lastLine >= (options.minSeconds ?? 2) * 1000) {
        line(done);
        const every = Math.max(1, Math.round((options.lineEvery ?? 0.1) * 100));
        nextPercent = (Math.floor(percent / every) + 1) * every;
      }
      if (done === size && last !== done) line(done);
    },
    setTotal: (t) => { size = t; },
    stop: () => { /* the last update printed the end */ },
  };
}

function format(values: Record<string, string | number>): string {
  return Object.entries(values).map(([k, v]) => `${k} ${v}`).join(', ');
}
