/**
 * Soak: a bounded, loopback-only load run with mixed decide / reward /
 * classify-image traffic against a real Focal process. Prints throughput,
 * latency percentiles per kind, the error count (must be 0), and the server's
 * RSS and live tensor count at start and end (must not grow beyond a bound).
 *
 * Every classification is followed by its true label on POST /reward, so the
 * attention model's online learner trains throughout. Without a shipped
 * models/ram-mnist a randomly initialised model of the same size is served
 * (the cost per request is the same; the accuracy is not the point here).
 *
 *   npm run soak                         # 120 s, 16 connections
 *   SOAK_SECONDS=30 SOAK_CONNECTIONS=8 npm run soak
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import { createRamModel, mnistRamConfig } from '../src/attention/index.js';
import { readMnist } from '../src/attention/mnist-dataset.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
/** Allowed growth of live tensors between the warm start and the end. */
const TENSOR_BOUND = 50;
const ROOT = new URL('../', import.meta.url).pathname;

type Kind = 'decide' | 'reward' | 'classify' | 'feedback';
const KINDS: Kind[] = ['decide', 'reward', 'classify', 'feedback'];

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function startServer(dataDir: string, modelsDir: string): Promise<{ port: number; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', FOCAL_DATA_DIR: dataDir, FOCAL_MODELS_DIR: modelsDir, FOCAL_LOG_LEVEL: 'info' },
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (out.length < 64 * 1024) out += `${line}\n`;
      const m = /"port":(\d+)[^\n]*Focal listening/.exec(line);
      if (m) resolve(Number(m[1]));
      // Warnings and errors of the server (the reason behind any 5xx) go to stderr; info lines are dropped.
      const level = Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? 0);
      if (level >= 40) process.stderr.write(`server: ${line.slice(0, 4000)}\n`);
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { port, stop: async () => { child.kill('SIGTERM'); return exited; } };
}

async function scrape(base: string): Promise<{ rss: number; tensors: number; backend: string }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const backend = /^focal_tensorflow_backend_info\{backend="([^"]+)"\} 1$/m.exec(text)?.[1] ?? 'unknown';
  // The main thread's tensors plus every image worker's (the models live in the workers).
  const workers = [...text.matchAll(/^focal_image_worker_tensors\{worker="\d+"\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  return { rss: num('process_resident_memory_bytes'), tensors: num('focal_tensorflow_tensors') + workers, backend };
}

/** MNIST test digit `index` as a PNG, black on white like a scan, with its label. */
async function digitPng(index: number): Promise<{ png: Buffer; label: string }> {
  const set = readMnist('test');
  const pixels = Buffer.from(set.images.subarray(index * 784, (index + 1) * 784)).map((v) => 255 - v);
  const png = await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).resize(112, 112).png().toBuffer();
  return { png, label: String(set.labels[index]) };
}

/** The shipped models folder, or a temporary one holding a random-init model of the shipped size. */
async function modelsDir(tmp: string): Promise<string> {
  if (process.env.FOCAL_MODELS_DIR) return process.env.FOCAL_MODELS_DIR;
  if (existsSync(join(ROOT, 'models', 'ram-mnist'))) return join(ROOT, 'models');
  console.log('note: no models/ram-mnist is shipped yet: serving a randomly initialised model of the same size');
  const model = createRamModel(mnistRamConfig(), 1);
  await model.save(join(tmp, 'models', 'ram-mnist'));
  model.dispose();
  return join(tmp, 'models');
}

/** Reads the server until its live tensor count holds still (queued online-learning steps finished). */
async function settle(base: string): Promise<{ rss: number; tensors: number; backend: string }> {
  let last = await scrape(base);
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await scrape(base);
    if (now.tensors === last.tensors) return now;
    last = now;
  }
  return last;
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const dataDir = mkdtempSync(join(tmpdir(), 'focal-soak-'));
  const models = await modelsDir(dataDir);
  const shippedModel = !models.startsWith(dataDir);
  const server = await startServer(join(dataDir, 'data'), models);
  const base = `http://127.0.0.1:${server.port}`;
  const digits = await Promise.all(Array.from({ length: 8 }, (_, i) => digitPng(i)));
  const png = digits[0]!.png;
  const json = { 'content-type': 'application/json' };
  const latencies: Record<Kind, number[]> = { decide: [], reward: [], classify: [], feedback: [] };
  const errors: Record<Kind, number> = { decide: 0, reward: 0, classify: 0, feedback: 0 };
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

  // Warm up (model loading, JIT, the optimiser state of the first online step) before the baseline reading.
  const probe = await fetch(`${base}/classify-image`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
  if (probe.status === 404) {
    classifyAvailable = false;
    console.log('note: no image model is installed; the soak runs decide/reward traffic only');
  }
  for (let i = 0; classifyAvailable && i < 24; i++) {
    const digit = digits[i % digits.length]!;
    const res = await fetch(`${base}/classify-image`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: digit.png });
    const { eventId } = (await res.json()) as { eventId: string };
    await fetch(`${base}/reward`, { method: 'POST', headers: json, body: JSON.stringify({ eventId, label: digit.label }) });
  }
  const actions = Array.from({ length: 10 }, (_, i) => ({ id: `a${i}`, features: { topic: `t${i % 4}`, len: i * 10 } }));
  for (let i = 0; i < 50; i++) {
    await fetch(`${base}/decide`, { method: 'POST', headers: json, body: JSON.stringify({ context: { user: { age: i } }, actions }) });
  }
  const startMetrics = await settle(base);

  const deadline = performance.now() + SECONDS * 1000;
  let sent = 0;
  const worker = async (w: number) => {
    let i = 0;
    while (performance.now() < deadline) {
      i++;
      sent++;
      if (classifyAvailable && i % 10 === 0) {
        const digit = digits[(w + i) % digits.length]!;
        const res = await timed('classify', `${base}/classify-image`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: digit.png });
        if (!res) continue;
        const { eventId } = (await res.json()) as { eventId: string };
        await timed('feedback', `${base}/reward`, { method: 'POST', headers: json, body: JSON.stringify({ eventId, label: digit.label }) });
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
  // RSS and live tensors every tenth of the run: a leak climbs steadily, a warming heap levels off.
  const samples: { rss: number; tensors: number }[] = [];
  const sampler = setInterval(() => { scrape(base).then((m) => samples.push(m), () => {}); }, (SECONDS * 1000) / 10);
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, w) => worker(w)));
  clearInterval(sampler);
  const elapsed = (performance.now() - t0) / 1000;
  const endMetrics = await settle(base);
  const exitCode = await server.stop();
  rmSync(dataDir, { recursive: true, force: true });

  const total = Object.values(latencies).reduce((n, l) => n + l.length, 0);
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
  console.log(`\nFocal soak: ${SECONDS} s, ${CONNECTIONS} connections, loopback (${sent} requests started)`);
  console.log(`${cpus().length} CPU cores, load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after; `
    + `TensorFlow.js backend ${endMetrics.backend}; image model ${shippedModel ? 'shipped' : 'random-init'}\n`);
  console.log('| kind | requests | req/s | p50 ms | p99 ms | errors |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const kind of KINDS) {
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
  console.log(`\nRSS MiB every ${SECONDS / 10} s: ${samples.map((m) => (m.rss / 2 ** 20).toFixed(0)).join(' ')}`);
  console.log(`tf tensors every ${SECONDS / 10} s: ${samples.map((m) => m.tensors).join(' ')}`);
  console.log(`\nserver exit code after SIGTERM: ${exitCode}`);
  for (const s of errorSamples) console.log(`error sample: ${s}`);
  const tensorGrowth = endMetrics.tensors - startMetrics.tensors;
  const ok = errorCount === 0 && exitCode === 0 && !(tensorGrowth > TENSOR_BOUND);
  console.log(ok ? 'PASS: no errors, clean exit, no tensor growth' : `FAIL: errors=${errorCount} exit=${exitCode} tensor growth=${tensorGrowth}`);
  process.exit(ok ? 0 : 1);
}

await main();
