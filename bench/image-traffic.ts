/**
 * Image traffic benchmark (npm run bench:images, part of npm run bench).
 * Loopback only, bounded: about a minute with the defaults.
 *
 *   1. /decide beside images: autocannon against Focal's POST /decide alone,
 *      then the same load while POST /classify-image runs beside it on 4
 *      connections → req/s and p99 of /decide under image load ÷ alone.
 *   2. /classify-image against a bare node:http endpoint that decodes the
 *      same 28×28 JPEG with sharp to 28×28 grey → req/s ratio.
 *
 * Each server runs in its own child process (Focal with its decisions and
 * images capabilities, the shipped models/ram-mnist, a fresh database in a
 * temporary directory, synchronous=FULL, FOCAL_IMAGE_WORKERS at its default),
 * and the conditions are measured alternately, round by round; each ratio is
 * the median over the rounds of ratios within a round (the machine's speed
 * drifts within minutes). Options: --duration <s> (default 3), --connections
 * <n> for /decide (default 16), --image-connections <n> (default 4),
 * --rounds <n> (default 3).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { announcePort, exitOnDisconnect, forkServer, stopServer } from './lib/child-server.js';
import { benchArgs } from './lib/cli.js';

const DECIDE_BODY = JSON.stringify({
  context: { user: { age: 31, country: 'DE', premium: true }, device: 'mobile', hour: 14 },
  actions: Array.from({ length: 10 }, (_, a) => ({ id: `article-${a}`, features: Object.fromEntries(Array.from({ length: 20 }, (_, f) => [`f${f}`, (a + 1) * (f + 1) / 17])) })),
});

/** A 28×28 JPEG of MNIST test digit 0, as the issue measured. */
async function digitJpeg(): Promise<Buffer> {
  const { readMnist } = await import('../src/attention/mnist-dataset.js');
  const grey = Buffer.from(readMnist('test').images.subarray(0, 784));
  return sharp(grey, { raw: { width: 28, height: 28, channels: 1 } }).jpeg({ quality: 90 }).toBuffer();
}

// ---- child: one server ----

const KINDS = ['focal', 'bare'] as const;
type Kind = (typeof KINDS)[number];

const args = benchArgs({
  duration: { type: 'number', default: 3, help: 'seconds per measurement' },
  connections: { type: 'number', default: 16 },
  'image-connections': { type: 'number', default: 4 },
  rounds: { type: 'number', default: 3 },
  serve: { type: 'string', choices: KINDS, help: 'child process: serve this server (the benchmark forks it)' },
});

async function serve(kind: Kind): Promise<void> {
  let server: import('node:http').Server;
  let cleanup = async () => {};
  if (kind === 'bare') {
    // node:http and sharp alone: read the bytes, decode them to 28×28 grey, answer JSON — the floor under any image endpoint.
    const { createServer } = await import('node:http');
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        sharp(Buffer.concat(chunks)).resize(28, 28).greyscale().raw().toBuffer().then((pixels) => {
          const text = JSON.stringify({ label: String(pixels[0]! % 10), pixels: pixels.length });
          res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
          res.end(text);
        }, () => { res.writeHead(422); res.end(); });
      });
    }).listen(0, '127.0.0.1');
  } else {
    const { createApp } = await import('../src/app.js');
    const { decisionsCapability } = await import('../src/decisions/index.js');
    const { imagesCapability } = await import('../src/images/index.js');
    const { defaultConfig } = await import('../src/platform/config.js');
    const { createLogger } = await import('../src/platform/logger.js');
    const { Metrics } = await import('../src/platform/metrics.js');
    const { selectTensorBackend } = await import('../src/platform/tensor-backend.js');
    const { openDatabase, closeDatabase } = await import('../src/store/database.js');
    const { backend } = await selectTensorBackend('wasm');
    const dir = mkdtempSync(join(tmpdir(), 'focal-bench-images-'));
    const db = openDatabase({ path: join(dir, 'focal.db') });
    const focal = await createApp({
      config: defaultConfig({ dataDir: dir, modelsDir: fileURLToPath(new URL('../models', import.meta.url)) }), db,
      logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), backend,
      capabilities: [decisionsCapability(), imagesCapability()],
    });
    server = focal.app.listen(0, '127.0.0.1');
    cleanup = async () => { await focal.close(); closeDatabase(db); rmSync(dir, { recursive: true, force: true }); };
  }
  announcePort(server);
  // CPU time of the whole server process (every thread): robust to a busy machine where req/s is not.
  process.on('message', (m: string) => {
    if (m !== 'cpu') return;
    const u = process.cpuUsage();
    process.send!({ cpu: u.user + u.system });
  });
  exitOnDisconnect(server, cleanup);
}

// ---- parent: drive them ----

interface Server { child: ChildProcess; base: string }

async function start(kind: Kind): Promise<Server> {
  const { child, port } = await forkServer(fileURLToPath(import.meta.url), ['--serve', kind], kind);
  return { child, base: `http://127.0.0.1:${port}` };
}

const stop = (child: ChildProcess) => stopServer(child, 10_000);

interface Run { rps: number; p50: number; p99: number; total: number; cpuPerRequest?: number }

function cpuOf(s: Server): Promise<number> {
  return new Promise((resolve) => {
    const on = (m: { cpu?: number }) => {
      if (m.cpu === undefined) return;
      s.child.off('message', on);
      resolve(m.cpu);
    };
    s.child.on('message', on);
    s.child.send('cpu');
  });
}

/** A run against one server, with the server's CPU time per request. */
async function measured(s: Server, run: () => Promise<Run>): Promise<Run> {
  const before = await cpuOf(s);
  const r = await run();
  return { ...r, cpuPerRequest: (await cpuOf(s) - before) / Math.max(1, r.total) };
}

async function load(url: string, opts: { duration: number; connections: number; body: string | Buffer; type: string }): Promise<Run> {
  const result = await autocannon({
    url, method: 'POST', headers: { 'content-type': opts.type }, body: opts.body, duration: opts.duration, connections: opts.connections,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, total: result.requests.total };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const { duration, connections, 'image-connections': imageConnections, rounds } = args;
  const jpeg = await digitJpeg();

  const focal = await start('focal');
  const bare = await start('bare');
  const decide = (d = duration) => load(`${focal.base}/decide`, { duration: d, connections, body: DECIDE_BODY, type: 'application/json' });
  const classify = (d = duration, c = imageConnections) => load(`${focal.base}/classify-image`, { duration: d, connections: c, body: jpeg, type: 'image/jpeg' });
  const decodeOnly = (d = duration, c = imageConnections) => load(`${bare.base}/decode`, { duration: d, connections: c, body: jpeg, type: 'image/jpeg' });
  try {
    // Warm-up: JIT, connections, the workers' kernels.
    await decide(2);
    await classify(2);
    await decodeOnly(2);
    const runs: { alone: Run; beside: Run; images: Run; classify: Run; bare: Run }[] = [];
    for (let r = 0; r < rounds; r++) {
      const alone = await decide();
      const [beside, images] = await Promise.all([decide(), classify()]);
      const c = await measured(focal, () => classify());
      const b = await measured(bare, () => decodeOnly());
      runs.push({ alone, beside, images, classify: c, bare: b });
    }
    const rows: string[][] = [];
    runs.forEach((r, i) => {
      const row = (what: string, x: Run, ratio = '') => rows.push([
        `${i + 1}`, what, x.rps.toFixed(0), `${x.p50}`, `${x.p99}`, x.cpuPerRequest === undefined ? '' : x.cpuPerRequest.toFixed(0), ratio]);
      row(`/decide alone (${connections} conn.)`, r.alone);
      row(`/decide beside /classify-image (${connections} conn.)`, r.beside, (r.beside.rps / r.alone.rps).toFixed(2));
      row(`  … the /classify-image beside it (${imageConnections} conn.)`, r.images);
      row(`/classify-image alone (${imageConnections} conn.)`, r.classify, (r.classify.rps / r.bare.rps).toFixed(2));
      row(`bare node:http sharp decode (${imageConnections} conn.)`, r.bare);
    });
    const header = ['round', 'load', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'ratio'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(`\nImage traffic: a ${jpeg.length}-byte 28×28 JPEG, ${duration} s per run, loopback (${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)})\n`);
    console.log(line(header));
    console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
    for (const r of rows) console.log(line(r));
    const decideRatio = median(runs.map((r) => r.beside.rps / r.alone.rps));
    const p99Ratio = median(runs.map((r) => r.beside.p99 / Math.max(1, r.alone.p99)));
    const classifyRatio = median(runs.map((r) => r.classify.rps / r.bare.rps));
    const verdict = (ok: boolean) => (ok ? '' : '  BELOW TARGET');
    console.log(`\n/decide req/s beside image load ÷ alone (median of ${rounds}) = ${decideRatio.toFixed(2)} (target ≥ 0.80)${verdict(decideRatio >= 0.8)}`);
    console.log(`/decide p99 beside image load ÷ alone (median) = ${p99Ratio.toFixed(2)} (target ≤ 2)${verdict(p99Ratio <= 2)}`);
    console.log(`/classify-image req/s ÷ bare node:http sharp decode (median) = ${classifyRatio.toFixed(2)} (target ≥ 0.60)${verdict(classifyRatio >= 0.6)}`);
    const cpuRatio = median(runs.map((r) => r.bare.cpuPerRequest! / r.classify.cpuPerRequest!));
    console.log(`Server CPU per request, bare ÷ Focal /classify-image (median) = ${cpuRatio.toFixed(2)} — every thread of each process;`
      + ' Focal\'s includes preprocessing, inference, the durable log and the HTTP stack');
  } finally {
    await stop(focal.child);
    await stop(bare.child);
  }
}

if (args.serve !== undefined) {
  serve(args.serve).catch((err: unknown) => { console.error(err); process.exit(1); });
} else {
  main().catch((err: unknown) => { console.error(err); process.exit(1); });
}
