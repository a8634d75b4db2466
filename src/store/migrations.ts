/**
 * Versioned schema migrations, applied in order, each in its own transaction.
 * Never edit a migration that has shipped: add a new one. Version ranges by
 * capability keep parallel work from colliding: 1–99 foundation, 100–199
 * bandit decisions, 200–299 images, 300–399 the Personalizer adapter.
 */
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** Runs instead of `sql` when a migration needs to look at the schema it migrates (still in its transaction). */
  up?: (db: Database.Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'foundation: models, events, rewards, snapshots',
    sql: `
      CREATE TABLE models (
        name        TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,              -- 'bandit' | 'image'
        config      TEXT NOT NULL,              -- JSON
        created_at  INTEGER NOT NULL,           -- ms since epoch
        updated_at  INTEGER NOT NULL
      ) STRICT;

      -- One row per logged decision or classification, written before the response.
      CREATE TABLE events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT NOT NULL UNIQUE,
        model        TEXT NOT NULL,
        kind         TEXT NOT NULL,             -- 'decision' | 'image'
        created_at   INTEGER NOT NULL,
        deadline_at  INTEGER,                   -- when the reward window closes (NULL: never)
        payload      TEXT NOT NULL,             -- JSON: what was decided and why
        reward       REAL,                      -- aggregated reward so far; NULL while pending
        reward_count INTEGER NOT NULL DEFAULT 0,
        closed       INTEGER NOT NULL DEFAULT 0 -- 1 once no more rewards are accepted
      ) STRICT;
      CREATE INDEX events_model_open ON events (model, closed, deadline_at);

      -- Append-only reward log: a model is its latest snapshot plus the rewards after it.
      CREATE TABLE rewards (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id    TEXT NOT NULL REFERENCES events (event_id),
        model       TEXT NOT NULL,
        reward      REAL NOT NULL,
        label       TEXT,
        source      TEXT NOT NULL,              -- 'client' | 'default'
        received_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX rewards_model_seq ON rewards (model, seq);

      CREATE TABLE snapshots (
        model       TEXT NOT NULL,
        version     INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        reward_seq  INTEGER NOT NULL,           -- last rewards.seq folded into this state
        state       BLOB NOT NULL,
        PRIMARY KEY (model, version)
      ) STRICT;
    `,
  },
  {
    version: 100,
    name: 'decisions: model versions, learned-reward flag, close reasons',
    sql: `
      -- Bumped by every reconfiguration; decisions log the version that made them.
      ALTER TABLE models ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
      -- 1: the row was folded into the model (replayed after a snapshot); 0: only
      -- recorded (a 'sum' reward, learned as one 'aggregate' row when the window closes).
      ALTER TABLE rewards ADD COLUMN learn INTEGER NOT NULL DEFAULT 1;
      -- Why an event stopped accepting rewards: 'reward' (first), 'window', 'deleted'.
      ALTER TABLE events ADD COLUMN closed_reason TEXT;
      CREATE INDEX rewards_event ON rewards (event_id);
    `,
  },
  {
    version: 110,
    name: 'decisions: index of open decisions by reward deadline',
    sql: `
      -- The sweeper closes expired reward windows of every model in one set-based statement, oldest deadline
      -- first: a partial index holds only the open decisions, so it stays as small as the pending set.
      CREATE INDEX events_open_deadline ON events (deadline_at) WHERE closed = 0 AND kind = 'decision';
    `,
  },
  {
    version: 130,
    name: 'decisions: per-minute time series of decisions and rewards by model',
    sql: `
      -- One row per model and minute (minute: ms since the epoch at the start of the UTC minute), behind
      -- GET /models/{name}/timeseries and the dashboard's charts. Kept by triggers, so every write path (a decision,
      -- a client reward, the sweep's bulk close, an import) adds to it in the transaction that logs the row itself:
      -- a crash loses both or neither, and start-up replay writes no rows, so nothing is counted twice. Deleting
      -- events (retention) does not subtract: rows older than the retention are deleted by time (retention.ts).
      CREATE TABLE timeseries (
        model           TEXT NOT NULL,
        minute          INTEGER NOT NULL,
        decisions       INTEGER NOT NULL DEFAULT 0,  -- decisions logged (by decision time)
        rewards         INTEGER NOT NULL DEFAULT 0,  -- learned rewards (by the time they were learned)
        reward_sum      REAL NOT NULL DEFAULT 0,     -- their sum
        client_rewards  INTEGER NOT NULL DEFAULT 0,  -- of which a client's (or imported)
        default_rewards INTEGER NOT NULL DEFAULT 0,  -- of which the default reward of a window that closed empty
        PRIMARY KEY (model, minute)
      ) STRICT, WITHOUT ROWID;

      CREATE TRIGGER timeseries_decision AFTER INSERT ON events WHEN NEW.kind = 'decision' BEGIN
        INSERT INTO timeseries (model, minute, decisions) VALUES (NEW.model, (NEW.created_at / 60000) * 60000, 1)
          ON CONFLICT (model, minute) DO UPDATE SET decisions = decisions + 1;
      END;
      -- Learned rows only (a 'sum' window's rewards count once, as the total learned when it closes); image feedback
      -- shares the rewards table and is left out by its model's kind (one probe of the models' primary key; not of
      -- events, which migration 191 rebuilds: a trigger on another table may not name it while it is renamed).
      CREATE TRIGGER timeseries_reward AFTER INSERT ON rewards
        WHEN NEW.learn = 1 AND (SELECT kind FROM models WHERE name = NEW.model) = 'bandit' BEGIN
        INSERT INTO timeseries (model, minute, rewards, reward_sum, client_rewards, default_rewards)
          VALUES (NEW.model, (NEW.received_at / 60000) * 60000, 1, NEW.reward, NEW.source = 'client', NEW.source = 'default')
          ON CONFLICT (model, minute) DO UPDATE SET rewards = rewards + 1, reward_sum = reward_sum + excluded.reward_sum,
            client_rewards = client_rewards + excluded.client_rewards, default_rewards = default_rewards + excluded.default_rewards;
      END;

      -- What was logged before this version, counted once here.
      INSERT INTO timeseries (model, minute, decisions)
        SELECT model, (created_at / 60000) * 60000 AS m, COUNT(*) FROM events WHERE kind = 'decision' GROUP BY model, m;
      INSERT INTO timeseries (model, minute, rewards, reward_sum, client_rewards, default_rewards)
        SELECT r.model, (r.received_at / 60000) * 60000 AS m, COUNT(*), SUM(r.reward), SUM(r.source = 'client'), SUM(r.source = 'default')
        FROM rewards r JOIN models d ON d.name = r.model AND d.kind = 'bandit' WHERE r.learn = 1 GROUP BY r.model, m
        ON CONFLICT (model, minute) DO UPDATE SET rewards = excluded.rewards, reward_sum = excluded.reward_sum,
          client_rewards = excluded.client_rewards, default_rewards = excluded.default_rewards;
    `,
  },
  {
    version: 190,
    name: 'evaluation: offline evaluation jobs',
    sql: `
      -- One row per offline evaluation (src/evaluation/): its request, status and, once done, its result.
      CREATE TABLE evaluations (
        id           TEXT PRIMARY KEY,
        model        TEXT NOT NULL,
        status       TEXT NOT NULL,             -- 'pending' | 'running' | 'completed' | 'failed'
        request      TEXT NOT NULL,             -- JSON: the job as resolved at creation (events, configs, seed)
        result       TEXT,                      -- JSON, once completed
        error        TEXT,                      -- once failed
        created_at   INTEGER NOT NULL,
        started_at   INTEGER,
        completed_at INTEGER
      ) STRICT;
      CREATE INDEX evaluations_model ON evaluations (model, created_at);
    `,
  },
  {
    // After 100 (it adds closed_reason), so it is numbered in the decisions range. It rebuilds `events`; any
    // other index or trigger on events (a migration numbered below it, from another branch) is recreated by `up`.
    version: 191,
    name: 'storage: compact payloads, retention indexes, log statistics',
    sql: `
      -- payload ANY: a JSON text (image events, decisions logged before this version) or a compressed BLOB
      -- (src/decisions/payload-codec.ts). The open-window index is partial, so a closed event (most rows)
      -- carries one small (model, seq) index entry instead of (model, closed, deadline_at).
      CREATE TABLE events_new (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id      TEXT NOT NULL UNIQUE,
        model         TEXT NOT NULL,
        kind          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        deadline_at   INTEGER,
        payload       ANY NOT NULL,
        reward        REAL,
        reward_count  INTEGER NOT NULL DEFAULT 0,
        closed        INTEGER NOT NULL DEFAULT 0,
        closed_reason TEXT
      ) STRICT;
      INSERT INTO events_new (seq, event_id, model, kind, created_at, deadline_at, payload, reward, reward_count, closed, closed_reason)
        SELECT seq, event_id, model, kind, created_at, deadline_at, payload, reward, reward_count, closed, closed_reason FROM events ORDER BY seq;
      DROP TABLE events;
      ALTER TABLE events_new RENAME TO events;
      CREATE INDEX events_open ON events (model, deadline_at) WHERE closed = 0;
      CREATE INDEX events_model ON events (model);

      -- Shared compression dictionaries of logged payloads, content-addressed (first 8 bytes of their sha256).
      CREATE TABLE payload_dictionaries (
        id          BLOB PRIMARY KEY,
        model       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        dictionary  BLOB NOT NULL
      ) STRICT;

      -- Per-model size of the event log, kept by triggers so GET /models/{name} never counts rows.
      CREATE TABLE log_stats (
        model   TEXT PRIMARY KEY,
        events  INTEGER NOT NULL,
        bytes   INTEGER NOT NULL
      ) STRICT;
      INSERT INTO log_stats (model, events, bytes)
        SELECT model, COUNT(*), SUM(octet_length(payload) + octet_length(event_id)) FROM events GROUP BY model;
      CREATE TRIGGER log_stats_insert AFTER INSERT ON events BEGIN
        INSERT INTO log_stats (model, events, bytes) VALUES (NEW.model, 1, octet_length(NEW.payload) + octet_length(NEW.event_id))
          ON CONFLICT (model) DO UPDATE SET events = events + 1, bytes = bytes + excluded.bytes;
      END;
      CREATE TRIGGER log_stats_delete AFTER DELETE ON events BEGIN
        UPDATE log_stats SET events = events - 1, bytes = bytes - octet_length(OLD.payload) - octet_length(OLD.event_id)
          WHERE model = OLD.model;
      END;

      -- One row the storage probe grows and shrinks to learn whether the disk takes writes again.
      CREATE TABLE storage_probe (id INTEGER PRIMARY KEY, filler BLOB) STRICT;
    `,
    up: (db) => {
      const others = db.prepare(`SELECT name, sql FROM sqlite_master
        WHERE tbl_name = 'events' AND type IN ('index', 'trigger') AND sql IS NOT NULL AND name <> 'events_model_open'`).all() as { name: string; sql: string }[];
      db.exec(MIGRATIONS.find((m) => m.version === 191)!.sql);
      const exists = db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?');
      for (const o of others) if (exists.get(o.name) === undefined) db.exec(o.sql);
    },
  },
  {
    // After 191, which rebuilds `events` with a fixed list of columns: a column added below it would be lost on a
    // fresh database (migrations run in version order) and kept on an existing one.
    version: 195,
    name: 'decisions: learning modes, deferred activation',
    sql: `
      -- Whether a decision's rewards are learned (src/decisions/reward-rules.ts): 0 as usual, 1 deferred until
      -- POST /events/{id}/activate, 2 never (decided in logging mode). Held events are logged and evaluable.
      ALTER TABLE events ADD COLUMN hold INTEGER NOT NULL DEFAULT 0;
      -- Apprentice mode: 1 when the model's own draw was the baseline action it answered, 0 when not; NULL otherwise.
      ALTER TABLE events ADD COLUMN imitated INTEGER;
    `,
  },
  {
    version: 300,
    name: 'personalizer: service settings and evaluation names',
    sql: `
      -- What Azure Personalizer's API holds beyond the Focal model it maps onto (src/personalizer/): the service
      -- configuration fields Focal has no setting for, and the policy contract last written (name, VW arguments).
      CREATE TABLE personalizer_settings (
        model       TEXT PRIMARY KEY,
        settings    TEXT NOT NULL,              -- JSON
        updated_at  INTEGER NOT NULL
      ) STRICT;
      -- A Personalizer evaluation: its id (client-chosen in the 2022-09-01-preview API), the Focal evaluation job
      -- that computes it, and its contract (name, time range, policies with their VW arguments).
      CREATE TABLE personalizer_evaluations (
        id          TEXT PRIMARY KEY,
        model       TEXT NOT NULL,
        evaluation  TEXT NOT NULL,              -- evaluations.id
        contract    TEXT NOT NULL,              -- JSON
        created_at  INTEGER NOT NULL
      ) STRICT;
    `,
  },
];
