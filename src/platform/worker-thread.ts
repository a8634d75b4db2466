import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread running the module `name` beside `base` (the caller's import.meta.url): its `.ts` source when
 * the caller runs from TypeScript under tsx, with tsx's loader registered in the worker before the import (a
 * worker does not inherit it); its `.js` build beside the caller's in dist/ otherwise.
 */
export function siblingWorker(base: string, name: string, options: WorkerOptions): Worker {
  if (base.endsWith('.ts')) {
    const entry = new URL(`./${name}.ts`, base).href;
    const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(code, { ...options, eval: true });
  }
  return new Worker(new URL(`./${name}.js`, base), options);
}
