/**
 * Versioned schema migrations, applied in order, each in its own transaction.
 * Never edit a migration that has shipped: add a new one. Version ranges by
 * capability keep parallel work from colliding: 1–99 foundation, 100–199
 * bandit decisions, 200–299 images.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
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
];
