/**
 * Imports a DSJSON log (a Personalizer or Decision Service export, or GET /models/{name}/log of another Focal) into a
 * model of a running Focal, in batches of POST /models/{name}/log, with a progress bar (plain lines when not on a
 * terminal). Each batch is all or nothing; on a refused batch the import stops and says which lines it held (the
 * batches before it are kept: run again with --skip-lines to go on after fixing them).
 *
 *   npm run import:log -- --model NAME --file export.dsjson [--url http://localhost:8080] [--batch 5000] [--skip-lines 0]
 *   The key is read from FOCAL_API_KEY (or FOCAL_ADMIN_KEY), never from the command line.
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createFocalClient, FocalProblemError, ok } from '../clients/typescript/src/index.js';
import { benchArgs } from '../bench/lib/cli.js';
import { progress } from './lib/progress.js';

const args = benchArgs({
  model: { type: 'string', help: 'the model to import into (it must exist: PUT /models/{name} first)' },
  file: { type: 'string', help: 'DSJSON lines' },
  url: { type: 'string', default: 'http://localhost:8080', help: 'where Focal listens' },
  batch: { type: 'number', default: 5000, help: 'lines per request (at most 100,000 and 64 × FOCAL_MAX_BODY bytes)' },
  'skip-lines': { type: 'number', default: 0, help: 'lines of the file to skip (already imported)' },
});

async function main(): Promise<void> {
  if (!args.model || !args.file) {
    console.error('import-log: --model and --file are required (--help lists the options)');
    process.exit(2);
  }
  const key = process.env.FOCAL_ADMIN_KEY ?? process.env.FOCAL_API_KEY;
  const focal = createFocalClient({ baseUrl: args.url, ...(key ? { apiKey: key } : {}) });
  const bytes = statSync(args.file).size;
  const bar = progress(`import into ${args.model}`, bytes, { unit: 'bytes' });
  const lines = createInterface({ input: createReadStream(args.file), crlfDelay: Infinity });
  let lineNo = 0;
  let read = 0;
  let batch: string[] = [];
  let first = 0;
  let imported = 0;
  let learned = 0;
  const send = async () => {
    if (batch.length === 0) return;
    const body = `${batch.join('\n')}\n`;
    try {
      const r = await ok(focal.POST('/models/{name}/log', {
        params: { path: { name: args.model! } }, body: body as never, bodySerializer: (b: unknown) => b,
        headers: { 'Content-Type': 'application/x-ndjson' },
      })) as { imported?: number; learned?: number };
      imported += r.imported ?? 0;
      learned += r.learned ?? 0;
    } catch (err) {
      bar.stop();
      if (err instanceof FocalProblemError) {
        const bad = (err.problem.lines as { line: number; message: string }[] | undefined) ?? [];
        console.error(`lines ${first}–${lineNo} refused (nothing of them was imported): ${err.message}`);
        for (const b of bad.slice(0, 10)) console.error(`  line ${first + b.line - 1}: ${b.message}`);
        console.error(`${imported} events imported before them; go on with --skip-lines ${first - 1} once fixed`);
        process.exit(1);
      }
      throw err;
    }
    batch = [];
  };
  for await (const line of lines) {
    lineNo++;
    read += Buffer.byteLength(line) + 1;
    if (lineNo <= args['skip-lines']) continue;
    if (batch.length === 0) first = lineNo;
    batch.push(line);
    if (batch.length >= args.batch) {
      await send();
      bar.update(Math.min(read, bytes), { imported, learned });
    }
  }
  await send();
  bar.update(bytes, { imported, learned });
  bar.stop();
  console.log(`imported ${imported} events into ${args.model} (${learned} learned) from ${lineNo} lines of ${args.file}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
