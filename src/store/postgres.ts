/**
 * PostgreSQL (FOCAL_DATABASE_URL), through node-postgres: the pool, the versioned migrations of this dialect and
 * the advisory-lock keys replicas coordinate with. The decisions slice keeps its log there (src/decisions/pg-*.ts);
 * migrations follow the SQLite ones' rules (src/store/migrations.ts: never edit a shipped one, ranges by capability).
 */
import pg from 'pg';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

/**
 * Advisory-lock keys (one 64-bit namespace per database). LOG: held by every transaction that appends to the
 * reward log, until it commits, so that `rewards.seq` values become visible in increasing order (a follower that
 * has read up to seq N never later finds a committed row below N). SWEEP: the session lock of the replica that
 * runs the default-reward sweep. MIGRATE: replicas starting together migrate one after the other.
 */
export const LOCKS = { log: 0x466f63616c01, sweep: 0x466f63616c02, migrate: 0x466f63616c03 } as const;

/** The NOTIFY channel a commit that appended to the reward log or changed a model signals on (payload: the highest seq). */
export const LOG_CHANNEL = 'focal_log';
/** Appended to the notification's payload when the transaction created, reconfigured or deleted a model. */
export const MODELS_CHANGED = ':models';

/** bigint (int8) columns as numbers: seqs and millisecond times stay far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

export function connectionConfig(url: string): pg.ClientConfig {
  return { connectionString: url, types, application_name: 'focal' };
}

export function openPool(url: string, max = 10): PgPool {
  return new pg.Pool({ ...connectionConfig(url), max, idleTimeoutMillis: 30_000 });
}

/** A dedicated connection outside the pool (LISTEN, session locks). */
export function openClient(url: string): pg.Client {
  return new pg.Client(connectionConfig(url));
}

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

/** The PostgreSQL schema: only what lives in the shared database (the decisions slice). */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 100,
    name: 'decisions: models, events, reward log, snapshots',
    sql: `
      CREATE TABLE models (
        name        text PRIMARY KEY,
        kind        text NOT NULL,
        config      text NOT NULL,               -- JSON
        version     integer NOT NULL DEFAULT 1,
        created_at  bigint NOT NULL,             -- ms since epoch
        updated_at  bigint NOT NULL
      );
      CREATE TABLE events (
        seq           bigserial PRIMARY KEY,
        event_id      text NOT NULL UNIQUE,
        model         text NOT NULL,
        kind          text NOT NULL,
        created_at    bigint NOT NULL,
        deadline_at   bigint,
        payload       text NOT NULL,             -- JSON (src/decisions/decision-store.ts's encoding)
        reward        double precision,
        reward_count  integer NOT NULL DEFAULT 0,
        closed        smallint NOT NULL DEFAULT 0,
        closed_reason text
      );
      CREATE INDEX events_open_deadline ON events (deadline_at) WHERE closed = 0 AND kind = 'decision';
      CREATE INDEX events_model ON events (model, created_at);
      -- The shared reward log: its seq is the order every replica learns in.
      CREATE TABLE rewards (
        seq         bigserial PRIMARY KEY,
        event_id    text NOT NULL REFERENCES events (event_id),
        model       text NOT NULL,
        reward      double precision NOT NULL,
        label       text,
        source      text NOT NULL,
        received_at bigint NOT NULL,
        learn       smallint NOT NULL DEFAULT 1
      );
      CREATE INDEX rewards_model_seq ON rewards (model, seq);
      CREATE INDEX rewards_event ON rewards (event_id);
      CREATE TABLE snapshots (
        model       text NOT NULL,
        version     integer NOT NULL,
        created_at  bigint NOT NULL,
        reward_seq  bigint NOT NULL,
        state       bytea NOT NULL,
        PRIMARY KEY (model, version)
      );
    `,
  },
  {
    version: 101,
    name: 'decisions: held events (deferred, logging mode), apprentice matches',
    sql: `
      -- As SQLite's migration 195: 0 learned as usual, 1 deferred until activation, 2 never learned (logging mode).
      ALTER TABLE events ADD COLUMN hold smallint NOT NULL DEFAULT 0;
      ALTER TABLE events ADD COLUMN imitated smallint;
    `,
  },
  {
    version: 102,
    name: 'decisions: log counts (stats.log) as delta rows',
    sql: `
      -- SQLite's log_stats (migration 191) keeps one row per model updated by row triggers; here every statement
      -- that inserts or deletes events appends one delta row per model instead (statement triggers over the
      -- transition table), so concurrent transactions of several replicas never wait on a shared counter row.
      -- stats.log is their sum; the retention leader compacts them. bytes: the payload's and id's text.
      CREATE TABLE log_stats (
        id      bigserial PRIMARY KEY,
        model   text NOT NULL,
        events  bigint NOT NULL,
        bytes   bigint NOT NULL
      );
      CREATE INDEX log_stats_model ON log_stats (model);
      CREATE FUNCTION focal_log_stats_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO log_stats (model, events, bytes)
          SELECT model, COUNT(*), SUM(octet_length(payload) + octet_length(event_id)) FROM inserted GROUP BY model;
        RETURN NULL;
      END $$;
      CREATE FUNCTION focal_log_stats_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO log_stats (model, events, bytes)
          SELECT model, -COUNT(*), -SUM(octet_length(payload) + octet_length(event_id)) FROM deleted GROUP BY model;
        RETURN NULL;
      END $$;
      CREATE TRIGGER log_stats_insert AFTER INSERT ON events REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION focal_log_stats_inserted();
      CREATE TRIGGER log_stats_delete AFTER DELETE ON events REFERENCING OLD TABLE AS deleted
        FOR EACH STATEMENT EXECUTE FUNCTION focal_log_stats_deleted();
      INSERT INTO log_stats (model, events, bytes)
        SELECT model, COUNT(*), SUM(octet_length(payload) + octet_length(event_id)) FROM events GROUP BY model;
    `,
  },
  {
    version: 103,
    name: 'decisions: per-minute time series as delta rows',
    sql: `
      -- SQLite's timeseries (migration 130: one row per model and minute, updated by row triggers) as delta rows,
      -- as log_stats (102): every statement that logs decisions or learned rewards appends one row per model and
      -- minute, so the transactions of several replicas never wait on (or deadlock over) a shared minute's row.
      -- GET /models/{name}/timeseries sums them; the retention leader compacts them and prunes old minutes.
      CREATE TABLE timeseries (
        id              bigserial PRIMARY KEY,
        model           text NOT NULL,
        minute          bigint NOT NULL,                      -- ms since the epoch at the start of the UTC minute
        decisions       bigint NOT NULL DEFAULT 0,            -- decisions logged (by decision time)
        rewards         bigint NOT NULL DEFAULT 0,            -- learned rewards (by the time they were learned)
        reward_sum      double precision NOT NULL DEFAULT 0,  -- their sum
        client_rewards  bigint NOT NULL DEFAULT 0,            -- of which a client's (or imported)
        default_rewards bigint NOT NULL DEFAULT 0             -- of which the default reward of a window that closed empty
      );
      CREATE INDEX timeseries_model_minute ON timeseries (model, minute);
      CREATE FUNCTION focal_timeseries_decisions() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO timeseries (model, minute, decisions)
          SELECT model, (created_at / 60000) * 60000, COUNT(*) FROM inserted WHERE kind = 'decision' GROUP BY 1, 2;
        RETURN NULL;
      END $$;
      CREATE FUNCTION focal_timeseries_rewards() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO timeseries (model, minute, rewards, reward_sum, client_rewards, default_rewards)
          SELECT model, (received_at / 60000) * 60000, COUNT(*), SUM(reward),
            COUNT(*) FILTER (WHERE source = 'client'), COUNT(*) FILTER (WHERE source = 'default')
          FROM inserted WHERE learn = 1 GROUP BY 1, 2;
        RETURN NULL;
      END $$;
      CREATE TRIGGER timeseries_decisions AFTER INSERT ON events REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION focal_timeseries_decisions();
      CREATE TRIGGER timeseries_rewards AFTER INSERT ON rewards REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION focal_timeseries_rewards();
      -- What was logged before this version, counted once here.
      INSERT INTO timeseries (model, minute, decisions)
        SELECT model, (created_at / 60000) * 60000, COUNT(*) FROM events WHERE kind = 'decision' GROUP BY 1, 2;
      INSERT INTO timeseries (model, minute, rewards, reward_sum, client_rewards, default_rewards)
        SELECT model, (received_at / 60000) * 60000, COUNT(*), SUM(reward),
          COUNT(*) FILTER (WHERE source = 'client'), COUNT(*) FILTER (WHERE source = 'default')
        FROM rewards WHERE learn = 1 GROUP BY 1, 2;
    `,
  },
];

/** Applies every migration not yet recorded, each atomically with its record, one replica at a time. */
export async function migratePg(pool: PgPool, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number[]> {
  const c = await pool.connect();
  const ran: number[] = [];
  try {
    await c.query('SELECT pg_advisory_lock($1)', [LOCKS.migrate]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    const applied = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      await c.query('BEGIN');
      try {
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK');
        throw err;
      }
      ran.push(m.version);
    }
  } finally {
    await c.query('SELECT pg_advisory_unlock($1)', [LOCKS.migrate]).catch(() => undefined);
    c.release();
  }
  return ran;
}
