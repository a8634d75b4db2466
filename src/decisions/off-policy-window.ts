import type { BanditModel, OffPolicyEstimate, OffPolicyRecord } from '../bandit/index.js';
import type { Logger } from '../platform/logger.js';
import { decodeDecisionPayload, type DecisionStore, type RewardedRow } from './decision-store.js';
import { decideAmong } from './exclusions.js';

/** Rewarded events the estimates look back over. */
export const OFF_POLICY_WINDOW = 500;
/** Once a model's window is full, its estimates are recomputed at most this often while it keeps learning: a refresh of the default auto model replays 500 events, 100–150 ms of event-loop time in slices, which every 10 s doubled /decide's p99 under polling (bench/bandit-windows.ts). */
export const OFF_POLICY_REFRESH_MS = 60_000;
/** Event-loop time one slice of a refresh may take before it yields to requests. */
const SLICE_MS = 2;
/** Rows read per page of the walk back through the reward log. */
const PAGE = 32;

/** What the refresher needs of a model in memory. */
export interface EstimatedModel {
  name: string;
  version: number;
  lastSeq: number;
  bandit: BanditModel;
}

interface Cached {
  key: string;
  version: number;
  value: OffPolicyEstimate | null;
  at: number;
}

const keyOf = (m: EstimatedModel) => `${m.version}:${m.lastSeq}:${m.bandit.updates}`;

/**
 * IPS / SNIPS / DR of each model's current policy over its latest OFF_POLICY_WINDOW rewarded events, kept
 * without blocking the event loop: evaluating a window replays up to 500 logged decisions through the model
 * (≈ 20 ms for the default model, far more for linucb or thompson), so a refresh runs in slices of about
 * SLICE_MS between requests, reading the log a page at a time, and a read meanwhile serves the previous
 * estimates. A young model's window (at most a page of events) is computed at once; otherwise the clock is read after every event. A refresh evaluates
 * the live model, which may learn between slices: the estimates are a progress indicator (the model was
 * trained on the same events), not a forecast.
 */
export class OffPolicyWindow {
  private readonly cache = new Map<string, Cached>();
  private readonly running = new Set<string>();

  constructor(
    private readonly store: DecisionStore,
    private readonly estimate: (records: readonly OffPolicyRecord[]) => OffPolicyEstimate,
    private readonly logger: Logger,
    private readonly current: (name: string) => EstimatedModel | undefined,
    /** PostgreSQL: the shared log's rewarded events (PgDecisionStore.rewardedBefore) instead of `store`'s. */
    private readonly shared?: (model: string, beforeSeq: number, limit: number) => Promise<RewardedRow[]>,
  ) {}

  /** The model's latest estimates (null before its first reward); starts a refresh if its state moved. */
  get(m: EstimatedModel): OffPolicyEstimate | null {
    const key = keyOf(m);
    const cached = this.cache.get(m.name);
    const usable = cached?.version === m.version ? cached : undefined;
    if (usable?.key === key || this.running.has(m.name)) return usable?.value ?? null;
    // A full window moves little with a few more events.
    if (usable && usable.value?.n === OFF_POLICY_WINDOW && Date.now() - usable.at < OFF_POLICY_REFRESH_MS) return usable.value;
    this.refresh(m, key);
    return this.cache.get(m.name)?.version === m.version ? this.cache.get(m.name)!.value : null;
  }

  /** Forgets a model (deleted or reconfigured). */
  forget(name: string): void {
    this.cache.delete(name);
  }

  private refresh(m: EstimatedModel, key: string): void {
    if (this.shared) {
      // PostgreSQL: the window is read in one query off the event loop's path, then evaluated in slices as below.
      this.running.add(m.name);
      this.shared(m.name, m.lastSeq + 1, OFF_POLICY_WINDOW).then((rows) => {
        let at = 0;
        this.evaluate(m, key, (_before, n) => rows.slice(at, (at += n)));
      }, (err: unknown) => {
        this.running.delete(m.name);
        this.logger.warn({ err, model: m.name }, 'off-policy estimate: reading the shared log failed');
      });
      return;
    }
    this.evaluate(m, key, (before, n) => this.store.rewardedBefore(m.name, before, n));
  }

  /** Evaluates the model over its rewarded events, newest first, read a page at a time from `page(beforeSeq, n)`. */
  private evaluate(m: EstimatedModel, key: string, page: (beforeSeq: number, n: number) => RewardedRow[]): void {
    const records: OffPolicyRecord[] = [];
    let before = m.lastSeq + 1;
    // Rows read and not yet evaluated: the slice's clock is checked after every row, not every page (a page of
    // the default auto model's events took ≈ 10 ms and more to evaluate, and /decide's p99 showed it).
    let queue: RewardedRow[] = [];
    let at = 0;
    /** The log holds no rows older than the queue's. */
    let lastPage = false;
    const done = (): boolean => records.length >= OFF_POLICY_WINDOW || (lastPage && at === queue.length);
    // A young model's window (no more than a page) is evaluated at once, whatever it costs: its first GET has it.
    const atOnce = m.bandit.updates <= PAGE;
    const step = (): boolean => {
      const until = performance.now() + SLICE_MS;
      while (!done() && (atOnce || performance.now() < until)) {
        if (at === queue.length) {
          const n = Math.min(PAGE, OFF_POLICY_WINDOW - records.length);
          queue = page(before, n);
          at = 0;
          if (queue.length < n) lastPage = true;
          continue;
        }
        const row = queue[at++]!;
        before = row.seq;
        try {
          const p = decodeDecisionPayload(row.payload);
          const d = decideAmong(m.bandit, p.context, p.actions, new Set(p.excluded), row.event_id);
          const targetPredicted = d.pmf.reduce((s, q, i) => s + q * (d.scores[i] ?? 0), 0);
          records.push({
            loggedProbability: p.probability, targetProbability: d.pmf[p.chosen] ?? 0, reward: row.reward,
            targetPredicted, loggedPredicted: d.scores[p.chosen] ?? 0,
          });
        } catch (err) {
          // An event the current model cannot score (e.g. actions a reconfiguration no longer accepts) is left out.
          this.logger.debug({ err, model: m.name, eventId: row.event_id }, 'off-policy estimate: event skipped');
        }
      }
      if (!done()) return false;
      this.cache.set(m.name, { key, version: m.version, value: records.length > 0 ? this.estimate(records) : null, at: Date.now() });
      return true;
    };
    if (!this.running.has(m.name) && step()) return;
    this.running.add(m.name);
    const next = () => {
      const live = this.current(m.name);
      // Reconfigured or deleted meanwhile: these estimates would describe a model that is gone.
      if (live !== m || live.version !== m.version) { this.running.delete(m.name); return; }
      try {
        if (step()) this.running.delete(m.name);
        else setImmediate(next);
      } catch (err) {
        this.running.delete(m.name);
        this.logger.warn({ err, model: m.name }, 'off-policy estimate failed');
      }
    };
    setImmediate(next);
  }
}
