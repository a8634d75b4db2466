import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A real Focal process (`node --import tsx src/main.ts`) on a loopback port,
 * for tests that kill it. Every spawned process is tracked so that a test's
 * `after` hook can kill what is left.
 */

const ROOT = new URL('../', import.meta.url).pathname;
const running = new Set<ChildProcess>();

export interface FocalProcess {
  child: ChildProcess;
  base: string;
  port: number;
  /** Every line of output so far: stdout (JSON log lines) and stderr. */
  lines: string[];
}

export async function startFocal(env: Record<string, string>, timeoutMs = 60_000): Promise<FocalProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', FOCAL_LOG_LEVEL: 'info', FOCAL_TF_BACKEND: 'cpu', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: child.stderr! }).on('line', (line) => { stderr += `${line}\n`; lines.push(line); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${timeoutMs} ms:\n${lines.join('\n')}\n${stderr}`)), timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code} before listening:\n${lines.join('\n')}\n${stderr}`)); });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      try {
        const log = JSON.parse(line) as { msg?: string; port?: number };
        if (log.msg?.startsWith('Focal listening') && log.port) {
          clearTimeout(timer);
          resolve(log.port);
        }
      } catch { /* not a log line */ }
    });
  });
  return { child, port, base: `http://127.0.0.1:${port}`, lines };
}

/** SIGKILL: no shutdown hook, no final snapshot, no WAL checkpoint. */
export async function kill9(p: FocalProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.kill('SIGKILL');
  await exited;
}

/** Kills every process this module started and that is still alive. */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

export interface Reply {
  status: number;
  type: string;
  body: Record<string, unknown>;
}

export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) as Record<string, unknown> : {} };
}
