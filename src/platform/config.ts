import { availableParallelism } from 'node:os';

/**
 * Configuration from environment variables, validated once at start-up.
 * Every variable is declared here with its default and description: `--help`
 * and the README's table are generated from / checked against this list.
 */

import { parseDuration } from './duration.js';

export type TfBackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Limits {
  /** Largest JSON body in bytes. */
  bodyBytes: number;
  /** Largest uploaded image in bytes. */
  imageBytes: number;
  /** Largest decoded image in pixels (width × height); guards against decompression bombs. */
  imagePixels: number;
  /** Most candidate actions in one /decide request. */
  actionsPerRequest: number;
  /** Most features (context plus all actions) in one /decide request. */
  featuresPerRequest: number;
  /** Longest string (ids, feature names and values). */
  stringLength: number;
  /** Most events in one batch /reward request. */
  rewardBatch: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  modelsDir: string;
  logLevel: LogLevel;
  apiKey: string | undefined;
  adminKey: string | undefined;
  tfBackend: TfBackendPreference;
  snapshotIntervalSeconds: number;
  shutdownTimeoutMs: number;
  /** Image worker threads (decoding, inference, rendering, online learning). */
  imageWorkers: number;
  /** Classifications that may wait for a worker before new ones get a 503. */
  imageQueue: number;
  /** Nice value of the image worker threads (Linux): 0 as the event loop, up to 19 (lowest priority). */
  imageNice: number;
  /** How long logged events are kept (FOCAL_LOG_RETENTION; a model's log.retention overrides it). */
  logRetentionMs: number;
  /** Largest database file (FOCAL_DATABASE_SIZE_LIMIT); unset: as large as the disk allows. */
  maxDatabaseBytes: number | undefined;
  /** FOCAL_DATABASE_URL: the decisions' shared PostgreSQL database (replicas); unset: the embedded SQLite database. */
  databaseUrl: string | undefined;
  /** The bandit model behind the Azure Personalizer API (FOCAL_PERSONALIZER_MODEL). */
  personalizerModel: string;
  limits: Limits;
}

interface VarSpec {
  name: string;
  default: string | undefined;
  description: string;
  apply: (raw: string, config: Config) => void;
}

class ConfigValueError extends Error {}

function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigValueError(`must be an integer in ${min}..${max}`);
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigValueError(`must be an integer in ${min}..${max}`);
    return n;
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** Parses "1048576", "512kb", "10mb" (binary units, as body-parser does). */
function byteSize(min: number, max: number) {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?$/i.exec(raw.trim());
    if (!m) throw new ConfigValueError('must be a size such as 1048576, 512kb or 10mb');
    const n = Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]!);
    if (n < min || n > max) throw new ConfigValueError(`must be between ${min} and ${max} bytes`);
    return n;
  };
}

function duration(raw: string): number {
  const ms = parseDuration(raw);
  if (ms === undefined) throw new ConfigValueError('must be a duration: a whole number and a unit s, m, h or d (e.g. 30d, 12h, 90s)');
  return ms;
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T => {
    const v = raw.trim().toLowerCase() as T;
    if (!values.includes(v)) throw new ConfigValueError(`must be one of ${values.join(', ')}`);
    return v;
  };
}

function secret(raw: string): string {
  if (raw.length < 16) throw new ConfigValueError('must be at least 16 characters long');
  return raw;
}

/** A PostgreSQL connection URL as node-postgres takes it: postgres:// or postgresql://, with a host or a socket path. */
function postgresUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigValueError('must be a URL such as postgres://user:password@host:5432/focal');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new ConfigValueError(`must be a postgres:// or postgresql:// URL (got ${url.protocol}//…)`);
  if (!url.hostname && !url.searchParams.get('host')) throw new ConfigValueError('must name a host (postgres://user:password@host:5432/focal)');
  return raw.trim();
}

/** `auto`: one worker per core but one (the event loop keeps a core), at least one. */
function workerCount(raw: string): number {
  if (raw.trim().toLowerCase() === 'auto') return Math.max(1, availableParallelism() - 1);
  return integer(1, 256)(raw);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export const CONFIG_VARS: readonly VarSpec[] = [
  { name: 'PORT', default: '8080', description: 'TCP port to listen on (0 picks a free port).',
    apply: (r, c) => { c.port = integer(0, 65535)(r); } },
  { name: 'HOST', default: '0.0.0.0', description: 'Interface to listen on.',
    apply: (r, c) => { if (!r.trim()) throw new ConfigValueError('must not be empty'); c.host = r.trim(); } },
  { name: 'FOCAL_DATA_DIR', default: './data', description: 'Directory for the SQLite database and model snapshots (created if missing).',
    apply: (r, c) => { if (!r.trim()) throw new ConfigValueError('must not be empty'); c.dataDir = r; } },
  { name: 'FOCAL_MODELS_DIR', default: './models', description: 'Directory of shipped, read-only model folders (e.g. models/ram-mnist).',
    apply: (r, c) => { if (!r.trim()) throw new ConfigValueError('must not be empty'); c.modelsDir = r; } },
  { name: 'FOCAL_LOG_LEVEL', default: 'info', description: `Log level: ${LOG_LEVELS.join(', ')}.`,
    apply: (r, c) => { c.logLevel = oneOf(LOG_LEVELS)(r); } },
  { name: 'FOCAL_API_KEY', default: undefined, description: 'If set, every endpoint except /healthz, /readyz and /metrics requires `Authorization: Bearer <key>` (at least 16 characters).',
    apply: (r, c) => { c.apiKey = secret(r); } },
  { name: 'FOCAL_ADMIN_KEY', default: undefined, description: 'If set, PUT and DELETE /models/{name} require this key instead of FOCAL_API_KEY (at least 16 characters).',
    apply: (r, c) => { c.adminKey = secret(r); } },
  { name: 'FOCAL_TF_BACKEND', default: 'auto', description: 'TensorFlow.js backend: auto (tensorflow if @tensorflow/tfjs-node loads, else wasm, else cpu), tensorflow, wasm or cpu.',
    apply: (r, c) => { c.tfBackend = oneOf(BACKENDS)(r); } },
  { name: 'FOCAL_SNAPSHOT_INTERVAL_SECONDS', default: '60', description: 'How often model state is snapshotted to the database (also on shutdown).',
    apply: (r, c) => { c.snapshotIntervalSeconds = integer(1, 86400)(r); } },
  { name: 'FOCAL_SHUTDOWN_TIMEOUT_MS', default: '10000', description: 'On SIGTERM/SIGINT, how long to wait for requests in flight before closing their connections.',
    apply: (r, c) => { c.shutdownTimeoutMs = integer(0, 600000)(r); } },
  { name: 'FOCAL_IMAGE_WORKERS', default: 'auto', description: 'Worker threads for image work (decoding, classification, glimpse PNGs, online learning): auto (CPU cores − 1, at least 1) or 1..256.',
    apply: (r, c) => { c.imageWorkers = workerCount(r); } },
  { name: 'FOCAL_IMAGE_QUEUE', default: '64', description: 'Classifications that may wait for a busy image worker; beyond that POST /classify-image answers 503 with Retry-After.',
    apply: (r, c) => { c.imageQueue = integer(0, 100000)(r); } },
  { name: 'FOCAL_IMAGE_NICE', default: '19', description: 'Scheduling priority (nice, Linux) of the image worker threads: 0 (as the event loop that answers /decide) to 19 (lowest), so decisions keep the CPU under image load.',
    apply: (r, c) => { c.imageNice = integer(0, 19)(r); } },
  { name: 'FOCAL_LOG_RETENTION', default: '30d', description: 'How long logged events are kept before background deletion (s, m, h or d, e.g. 30d, 12h, 90s); a model\'s log.retention overrides it. Events whose reward window is open, and rewards not yet in a model snapshot, are kept.',
    apply: (r, c) => { c.logRetentionMs = duration(r); } },
  { name: 'FOCAL_DATABASE_SIZE_LIMIT', default: undefined, description: 'Largest size of the database file (e.g. 20gb); beyond it writes answer 503 storage-full, as on a full disk. Unset: the disk is the limit.',
    apply: (r, c) => { c.maxDatabaseBytes = byteSize(64 * 1024, 2 ** 50)(r); } },
  { name: 'FOCAL_DATABASE_URL', default: undefined, description: 'A postgres:// (or postgresql://) URL: the bandit models, decisions and rewards live in that PostgreSQL database, shared by every Focal replica pointed at it (see Replicas). Unset: the embedded SQLite database under FOCAL_DATA_DIR.',
    apply: (r, c) => { c.databaseUrl = postgresUrl(r); } },
  { name: 'FOCAL_PERSONALIZER_MODEL', default: 'personalizer', description: 'The bandit model that the Azure Personalizer API (/personalizer/…) ranks with and configures; created with Personalizer\'s defaults on first use.',
    apply: (r, c) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(r)) throw new ConfigValueError('must be a model name (letters, digits, ".", "_", "-"; at most 64)');
      c.personalizerModel = r;
    } },
  { name: 'FOCAL_MAX_BODY', default: '1mb', description: 'Largest JSON request body.',
    apply: (r, c) => { c.limits.bodyBytes = byteSize(1024, 1024 ** 3)(r); } },
  { name: 'FOCAL_MAX_IMAGE_BYTES', default: '10mb', description: 'Largest uploaded image (raw, multipart or base64-decoded).',
    apply: (r, c) => { c.limits.imageBytes = byteSize(1024, 1024 ** 3)(r); } },
  { name: 'FOCAL_MAX_IMAGE_PIXELS', default: '25000000', description: 'Largest decoded image in pixels (width × height).',
    apply: (r, c) => { c.limits.imagePixels = integer(1, 2 ** 31)(r); } },
  { name: 'FOCAL_MAX_ACTIONS', default: '256', description: 'Most candidate actions in one /decide request.',
    apply: (r, c) => { c.limits.actionsPerRequest = integer(1, 100000)(r); } },
  { name: 'FOCAL_MAX_FEATURES', default: '4096', description: 'Most features (context and actions together) in one /decide request.',
    apply: (r, c) => { c.limits.featuresPerRequest = integer(1, 1000000)(r); } },
  { name: 'FOCAL_MAX_STRING_LENGTH', default: '256', description: 'Longest id, feature name or string value.',
    apply: (r, c) => { c.limits.stringLength = integer(1, 65536)(r); } },
  { name: 'FOCAL_MAX_REWARD_BATCH', default: '1000', description: 'Most events in one batch /reward request.',
    apply: (r, c) => { c.limits.rewardBatch = integer(1, 100000)(r); } },
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nRun with --help to list every variable.`);
    this.name = 'ConfigError';
  }
}

function emptyConfig(): Config {
  return {
    port: 0, host: '', dataDir: '', modelsDir: '', logLevel: 'info', apiKey: undefined, adminKey: undefined,
    tfBackend: 'auto', snapshotIntervalSeconds: 0, shutdownTimeoutMs: 0, imageWorkers: 1, imageQueue: 0, imageNice: 0, logRetentionMs: 0, maxDatabaseBytes: undefined, personalizerModel: '', databaseUrl: undefined,
    limits: { bodyBytes: 0, imageBytes: 0, imagePixels: 0, actionsPerRequest: 0, featuresPerRequest: 0, stringLength: 0, rewardBatch: 0 },
  };
}

/** Reads and validates every variable; throws one ConfigError that lists all bad values. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const config = emptyConfig();
  const problems: string[] = [];
  for (const spec of CONFIG_VARS) {
    const given = env[spec.name];
    const raw = given === undefined || given === '' ? spec.default : given;
    if (raw === undefined) continue;
    try {
      spec.apply(raw, config);
    } catch (err) {
      if (!(err instanceof ConfigValueError)) throw err;
      // Keys, and URLs that may carry a password, are never echoed.
      const shown = spec.name.endsWith('_KEY') || spec.name.endsWith('_URL') ? '<redacted>' : JSON.stringify(raw);
      problems.push(`${spec.name} ${err.message} (got ${shown})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Builds a test or embedding configuration from defaults plus overrides. */
export function defaultConfig(overrides: Partial<Omit<Config, 'limits'>> & { limits?: Partial<Limits> } = {}): Config {
  const base = loadConfig({});
  return { ...base, ...overrides, limits: { ...base.limits, ...overrides.limits } };
}

export function helpText(): string {
  const lines = [
    'Focal — contextual bandits and a recurrent visual attention agent behind one HTTP API.',
    '',
    'Usage: npm start            (or: node dist/main.js [--help])',
    '',
    'Environment variables:',
  ];
  for (const v of CONFIG_VARS) {
    lines.push(`  ${v.name.padEnd(34)} ${v.description} (default: ${v.default ?? 'unset'})`);
  }
  return lines.join('\n');
}
