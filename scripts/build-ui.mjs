#!/usr/bin/env node
// Builds the dashboard (ui/) into dist/ui/ with esbuild: one bundled script and one stylesheet, served by
// Focal itself at /ui (src/dashboard/). No CDN: everything the page loads is in dist/ui/.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url).pathname;
const out = `${root}dist/ui`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const started = performance.now();
await build({
  entryPoints: { app: `${root}ui/src/main.ts` },
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  outdir: out,
  logLevel: 'warning',
});
copyFileSync(`${root}ui/index.html`, `${out}/index.html`);
console.log(`dashboard built into dist/ui in ${Math.round(performance.now() - started)} ms`);
