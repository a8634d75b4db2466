import type { ModelStats } from './decision-store.js';
import type { Learn } from './op-result.js';

/**
 * A model's statistics kept in memory, moved by the same committed results that move the model, so that
 * GET /models does not aggregate the event and reward tables on every call. Loaded once at start-up from
 * the tables (DecisionStore.stats, the same figures by SQL); from then on each committed decision, client
 * reward and closed window adds its share.
 */
export class ModelCounters implements ModelStats {
  decisions = 0;
  pending = 0;
  rewardedEvents = 0;
  rewardTotal = 0;
  clientRewards = 0;
  defaultRewards = 0;

  static from(stats: ModelStats): ModelCounters {
    return Object.assign(new ModelCounters(), stats);
  }

  /** A decision was logged: its window is open. */
  decided(): void {
    this.decisions++;
    this.pending++;
  }

  /** A client's reward was recorded (under `sum` the window stays open). */
  rewarded(): void {
    this.clientRewards++;
  }

  /** A window closed with a reward that is learned: the first client reward, the default, or the sum. */
  closed(l: Pick<Learn, 'reward' | 'source'>): void {
    this.pending--;
    this.rewardedEvents++;
    this.rewardTotal += l.reward;
    if (l.source === 'default') this.defaultRewards++;
  }

  /** Log retention deleted closed events (src/decisions/retention.ts): the counts cover the events kept. */
  removed(r: Omit<ModelStats, 'pending'>): void {
    this.decisions -= r.decisions;
    this.rewardedEvents -= r.rewardedEvents;
    this.rewardTotal -= r.rewardTotal;
    this.clientRewards -= r.clientRewards;
    this.defaultRewards -= r.defaultRewards;
  }

  snapshot(): ModelStats {
    const { decisions, pending, rewardedEvents, rewardTotal, clientRewards, defaultRewards } = this;
    return { decisions, pending, rewardedEvents, rewardTotal, clientRewards, defaultRewards };
  }
}
