import type pg from 'pg';
import type { Logger } from '../platform/logger.js';
import { LOCKS, LOG_CHANNEL, MODELS_CHANGED, openClient } from '../store/postgres.js';
import type { ModelLearning } from './model-learning.js';
import type { PgDecisionStore } from './pg-store.js';

/** Rows read per catch-up query. */
const PAGE = 1000;
/** The catch-up query also runs this often without a notification (a lost one, a reconnection), as do the sweep-lock attempt and the counters' refresh. */
export const FOLLOW_TICK_MS = 500;

export interface ReplicaLag {
  /** Rows of the shared reward log not yet applied here. */
  behindEvents: number;
  /** Age of the oldest row not yet applied here (0 when caught up). */
  behindMs: number;
}

/**
 * A replica following the shared reward log (PostgreSQL): every row with a seq above `position` is read in seq
 * order and handed to the models (ModelLearning.followed), its own rows as well as other replicas', so every
 * replica's models are the log folded in one order, as a restart rebuilds them. It wakes on LOG_CHANNEL
 * notifications (LISTEN on a dedicated connection) and every FOLLOW_TICK_MS (catch-up query). Model changes
 * (PUT/DELETE on any replica) are picked up in the same serial loop, before the rows after them.
 *
 * The same connection takes the SWEEP session advisory lock when free: the replica holding it runs the
 * default-reward sweep; when it dies its connection closes, PostgreSQL releases the lock, and another replica
 * takes it on its next tick.
 */
export class LogFollower {
  position = 0;
  private head = 0;
  private behindSince: number | undefined;
  private listener: pg.Client | undefined;
  private leader = false;
  private running: Promise<void> | undefined;
  private again = false;
  private modelsDirty = true;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private closed = false;
  /** Once the first catch-up after start has finished: the replica reports ready. */
  caughtUp = false;

  constructor(
    private readonly url: string,
    private readonly store: PgDecisionStore,
    private readonly learning: ModelLearning,
    private readonly logger: Logger,
    /** Reloads the models' counters from the shared tables (through the writer: decision-service.ts). */
    private readonly refreshCounters: () => Promise<void>,
  ) {}

  /** Connects, listens, and catches up from `position` (the seq the restored models reach). */
  async start(position: number): Promise<void> {
    this.position = position;
    await this.connect();
    // A replica that finds the sweep free takes it at once (a lone replica sweeps from its start), not a tick later.
    await this.tryLead();
    this.timer = setInterval(() => this.tick(), FOLLOW_TICK_MS);
    this.timer.unref();
    await this.kick();
    this.caughtUp = true;
  }

  private async connect(): Promise<void> {
    const client = openClient(this.url);
    client.on('notification', (n) => {
      const seq = Number.parseInt(n.payload ?? '0', 10);
      if (seq > this.head) this.head = seq;
      if (n.payload?.endsWith(MODELS_CHANGED)) this.modelsDirty = true;
      void this.kick();
    });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'replica: the log-follower connection failed; reconnecting');
      this.leader = false;
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => undefined);
    });
    await client.connect();
    await client.query(`LISTEN ${LOG_CHANNEL}`);
    this.listener = client;
  }

  private tick(): void {
    if (this.closed) return;
    this.ticks++;
    this.modelsDirty = true;
    void (async () => {
      try {
        if (!this.listener) await this.connect();
        await this.tryLead();
        const h = await this.store.head(this.position);
        this.head = Math.max(this.head, h.seq);
        this.behindSince = h.oldestAfter ?? undefined;
        await this.kick();
        if (this.ticks % 2 === 0) await Promise.all([this.refreshCounters(), this.store.refreshLogCounts()]);
      } catch (err) {
        if (!this.closed) this.logger.warn({ err }, 'replica: following the shared log failed; retrying');
      }
    })();
  }

  /** Takes the SWEEP session lock if it is free (this replica then runs the default-reward sweep). */
  private async tryLead(): Promise<void> {
    if (this.leader || !this.listener) return;
    this.leader = (await this.listener.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCKS.sweep])).rows[0]!.ok;
    if (this.leader) this.logger.info('replica: this replica now runs the default-reward sweep (advisory lock taken)');
  }

  /** Whether this replica holds the sweep lock. */
  get isLeader(): boolean {
    return this.leader && this.listener !== undefined;
  }

  get lag(): ReplicaLag {
    const behind = Math.max(0, this.head - this.position);
    return { behindEvents: behind, behindMs: behind > 0 && this.behindSince !== undefined ? Math.max(0, Date.now() - this.behindSince) : 0 };
  }

  /** Resolves once every row up to `seq` has been applied here. */
  applied(seq: number): Promise<void> {
    if (this.position >= seq) return Promise.resolve();
    if (seq > this.head) this.head = seq;
    return new Promise((resolve) => {
      this.waiters.push({ seq, resolve });
      void this.kick();
    });
  }

  /** Runs the catch-up loop (one at a time; a kick while it runs makes it go round once more). */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.catchUp();
        } while (this.again && !this.closed);
      } catch (err) {
        if (!this.closed) this.logger.warn({ err }, 'replica: catching up with the shared log failed; retrying on the next tick');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async catchUp(): Promise<void> {
    if (this.modelsDirty) {
      this.modelsDirty = false;
      await this.learning.syncFromPg(this.store, this.position);
    }
    for (;;) {
      const rows = await this.store.log(this.position, PAGE);
      for (const r of rows) {
        this.learning.followed(r);
        this.position = r.seq;
      }
      if (rows.length > 0) this.settle();
      if (rows.length < PAGE) break;
    }
    if (this.position >= this.head) this.behindSince = undefined;
  }

  private settle(): void {
    const due = this.waiters.filter((w) => w.seq <= this.position);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq > this.position);
    for (const w of due) w.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }
}
