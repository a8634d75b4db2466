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
  /** Apprentice-mode decisions and how many of them the model's own draw matched (stats.apprentice). */
  apprentice = { events: 0, imitated: 0 };

  static from(stats: ModelStats, apprentice?: { events: number; imitated: number }): ModelCounters {
    const c = Object.assign(new ModelCounters(), stats);
    if (apprentice) c.apprentice = { ...apprentice };
    return c;
  }

  /** A decision was logged: its window is open. `imitated`: apprentice mode's match, null in other modes. */
  decided(imitated: boolean | null = null): void {
    this.decisions++;
    this.pending++;
    if (imitated !== null) {
      this.apprentice.events++;
      if (imitated) this.apprentice.imitated++;
    }
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
  removed(r: Omit<ModelStats, 'pending'> & { apprentice?: { events: number; imitated: number } }): void {
    if (r.apprentice) {
      this.apprentice.events -= r.apprentice.events;
      this.apprentice.imitated -= r.apprentice.imitated;
    }
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
