/**
 * A benchmark's command line, read with node:util `parseArgs`: `--name value` or `--name=value`, strictly (an
 * unknown option, a missing value or a value that is not a number stops the run with the list of options, rather
 * than running a benchmark with settings nobody asked for), and `--help`. parseArgs itself knows strings and
 * booleans only: numeric options are read as strings and converted here.
 */
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

export type Option =
  | { type: 'number'; default?: number; help?: string }
  | { type: 'string'; default?: string; choices?: readonly string[]; help?: string }
  | { type: 'boolean'; help?: string };

type Value<O> = O extends { type: 'number' } ? (O extends { default: number } ? number : number | undefined)
  : O extends { type: 'boolean' } ? boolean
  : O extends { choices: readonly (infer C)[] } ? (O extends { default: string } ? C : C | undefined)
  : O extends { default: string } ? string : string | undefined;

export type Options<S extends Record<string, Option>> = { [K in keyof S]: Value<S[K]> };

/** Parses `argv` (default: this process's arguments) against `spec`; exits with a usage message when it does not fit. */
export function benchArgs<const S extends Record<string, Option>>(spec: S, argv: string[] = process.argv.slice(2)): Options<S> {
  const script = basename(process.argv[1] ?? 'bench');
  const usage = () => [`usage: ${script} [options]`, ...Object.entries(spec).map(([name, o]) => {
    const value = o.type === 'boolean' ? '' : o.type === 'string' && o.choices ? ` <${o.choices.join('|')}>` : ` <${o.type}>`;
    const dflt = 'default' in o && o.default !== undefined ? ` (default ${o.default})` : '';
    return `  --${name}${value}${o.help ? `  ${o.help}` : ''}${dflt}`;
  })].join('\n');
  const fail = (message: string): never => {
    console.error(`${script}: ${message}\n${usage()}`);
    process.exit(2);
  };
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, o] of Object.entries(spec)) options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined> = {};
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) {
    console.log(usage());
    process.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec)) {
    const raw = values[name];
    if (o.type === 'boolean') {
      out[name] = raw === true;
    } else if (raw === undefined) {
      out[name] = o.default;
    } else if (o.type === 'number') {
      const n = Number(raw);
      if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) fail(`--${name} must be a number, got "${String(raw)}"`);
      out[name] = n;
    } else {
      if (o.choices && !o.choices.includes(raw as string)) fail(`--${name} must be one of ${o.choices.join(', ')}, got "${String(raw)}"`);
      out[name] = raw;
    }
  }
  return out as Options<S>;
}
