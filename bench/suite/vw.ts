/**
 * Vowpal Wabbit on the suite's streams, as a child process: `vw --daemon --foreground --port 0` answers
 * each multiline ADF example on its socket, so the bandit loop is interactive like Focal's: send the round
 * unlabelled (VW predicts a PMF and does not learn), sample the action from that PMF here with the
 * seeded RNG, then send the round labelled with the chosen action, its cost (−reward) and probability
 * (VW learns; its answer is ignored). VW is never a dependency: without the binary the suite prints a
 * message and runs Focal alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Features } from '../../src/bandit/index.js';
import { Xoshiro128 } from '../../src/bandit/random/seeded-rng.js';
import type { Stream } from './streams.js';

export const DEFAULT_VW = '/tmp/vw/build/vowpalwabbit/cli/vw';

export function vwBinary(): string | undefined {
  const path = process.env['FOCAL_VW'] ?? DEFAULT_VW;
  return existsSync(path) ? path : undefined;
}

/** VW feature names cannot hold spaces, `|` or `:`. */
function name(s: string): string {
  return s.replace(/[\s|:]/g, '_');
}

function features(obj: Features, prefix: string, out: string[]): void {
  for (const key of Object.keys(obj)) {
    const v = obj[key]!;
    if (typeof v === 'object') features(v, `${prefix}${key}.`, out);
    else if (typeof v === 'number') out.push(`${name(prefix + key)}:${v}`);
    else out.push(`${name(prefix + key)}=${name(String(v))}`);
  }
}

/** Every context feature in namespace `c`, the action's id in namespace `a`. */
function adf(context: Features, ids: string[], label?: { chosen: number; cost: number; probability: number }): string {
  const ctx: string[] = [];
  features(context, '', ctx);
  let s = `shared |c ${ctx.join(' ')}\n`;
  for (let a = 0; a < ids.length; a++) {
    const l = label && label.chosen === a ? `0:${label.cost}:${label.probability} ` : '';
    s += `${l}|a id=${name(ids[a]!)}\n`;
  }
  return `${s}\n`;
}

class VwDaemon {
  private buf = '';
  private waiters: ((line: string) => void)[] = [];
  private constructor(private readonly child: ChildProcess, private readonly sock: net.Socket, private readonly dir: string) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line.trim() !== '') this.waiters.shift()?.(line);
      }
    });
  }

  static async start(binary: string, args: string[]): Promise<VwDaemon> {
    const dir = mkdtempSync(join(tmpdir(), 'focal-vw-'));
    const portFile = join(dir, 'port');
    // nice: the machine is shared; VW's own CPU is part of the measurement only through the result.
    // detached: its own process group, so stop() can kill the worker the daemon forks (`--num_children 1`) with it.
    // Killing the daemon alone left the worker running, holding the stderr pipe, and the suite never exited.
    const child = spawn('nice', ['-n', '10', binary, ...args, '--quiet', '--daemon', '--foreground', '--num_children', '1', '--port', '0', '--port_file', portFile], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    let port = 0;
    for (let i = 0; i < 200 && !port; i++) {
      await new Promise((r) => setTimeout(r, 25));
      if (child.exitCode !== null) throw new Error(`vw ${args.join(' ')} exited: ${stderr.trim()}`);
      try {
        port = Number(readFileSync(portFile, 'utf8').trim());
      } catch { /* not written yet */ }
    }
    if (!port) throw new Error(`vw ${args.join(' ')} did not announce a port`);
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    return new VwDaemon(child, sock, dir);
  }

  ask(text: string): Promise<string> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.sock.write(text);
    });
  }

  stop(): void {
    this.sock.destroy();
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch { /* already gone */ }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One pass of `vw args` over the stream; returns the chosen action of every round. */
export async function runVw(binary: string, args: string[], stream: Stream, seed: number): Promise<number[]> {
  const vw = await VwDaemon.start(binary, args);
  const rng = new Xoshiro128(seed * 2654435761 + 99);
  const chosen: number[] = [];
  try {
    for (const round of stream.rounds) {
      const ids = round.actions.map((a) => a.id);
      const answer = await vw.ask(adf(round.context, ids));
      // "action:probability,…" with 0-based action indices.
      const pmf = new Array<number>(ids.length).fill(0);
      for (const part of answer.trim().split(',')) {
        const [a, p] = part.split(':');
        pmf[Number(a)] = Number(p);
      }
      let u = rng.next();
      let pick = pmf.length - 1;
      for (let a = 0; a < pmf.length; a++) {
        u -= pmf[a]!;
        if (u < 0) { pick = a; break; }
      }
      chosen.push(pick);
      await vw.ask(adf(round.context, ids, { chosen: pick, cost: -round.realized[pick]!, probability: Math.max(pmf[pick]!, 1e-6) }));
    }
  } finally {
    vw.stop();
  }
  return chosen;
}
