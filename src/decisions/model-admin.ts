import type { Limits } from '../platform/config.js';
import { DEFAULT_MODEL, type ModelEntry, type ModelRegistry } from './model-registry.js';
import { resetsState, sameConfig, type ModelConfigInput } from './model-config.js';
import { ModelCounters } from './model-counters.js';
import type { DecisionsWriter } from './decisions-writer.js';
import { httpError } from './decisions-writer.js';
import type { OffPolicyWindow } from './off-policy-window.js';
import { checkActions, FeatureBudget } from './request-limits.js';
import type { ModelView } from './model-view.js';

/**
 * Creating, reconfiguring and deleting models. These operations run one at a time, in the order they were
 * asked: each decides reset-or-keep against the committed state, and memory changes only once its write is
 * durable.
 */
export class ModelAdmin {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly writer: DecisionsWriter,
    private readonly limits: Limits,
    private readonly estimates: OffPolicyWindow,
    private readonly view: (e: ModelEntry) => ModelView,
  ) {}

  /** Resolves once every admin operation asked so far has finished (successfully or not). */
  settled(): Promise<unknown> {
    return this.chain.catch(() => undefined);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Creates or reconfigures a model. A new strategy or learner starts from
   * fresh learned state (the old weights belong to another model); changing
   * only actions or the reward policy keeps it. Any change bumps the version.
   * `state`: learned state to start from instead (a model imported from an export of this configuration).
   */
  put(name: string, input: ModelConfigInput, { forceReset = false, state }: { forceReset?: boolean; state?: Uint8Array } = {}): Promise<ModelView> {
    const writer = this.writer.accepting();
    const budget: FeatureBudget = new FeatureBudget(this.limits);
    if (input.actions) checkActions(input.actions, budget, this.limits);
    const config = this.registry.resolve(input);
    return this.serial(async () => {
      const existing = this.registry.get(name);
      const reset = forceReset || state !== undefined || !existing || resetsState(existing.config, config);
      if (existing && !reset && sameConfig(existing.config, config)) return this.view(existing);
      // Built (and so validated by the engine) before anything is written.
      const fresh = reset ? this.registry.build(config, state) : undefined;
      const r = await writer.submit({
        op: 'put', name, config: JSON.stringify(config), reset, now: Date.now(),
        state: (fresh ?? existing!.bandit).snapshot(), lastSeq: existing?.lastSeq ?? 0,
      }, (r) => {
        if (r.problem) return;
        const now = r.at ?? Date.now();
        if (fresh) {
          this.registry.set({
            name, config, version: r.version!, createdAt: existing?.createdAt ?? now, updatedAt: now,
            bandit: fresh, lastSeq: r.seq!, snapshotSeq: r.seq!,
            // A reset keeps the model's history (its statistics count from createdAt, which stays).
            counters: existing?.counters ?? new ModelCounters(),
          });
        } else {
          Object.assign(existing!, { config, version: r.version!, updatedAt: now, snapshotSeq: r.seq! });
        }
      });
      if (r.problem) throw httpError(r);
      return this.view(this.registry.entry(name));
    });
  }

  /** Deletes a model; its open events are closed. `default` is reset to the default configuration instead. */
  async delete(name: string): Promise<ModelView | undefined> {
    const writer = this.writer.accepting();
    this.registry.entry(name);
    if (name === DEFAULT_MODEL) return this.put(name, {}, { forceReset: true });
    return this.serial(async () => {
      this.registry.entry(name);
      await writer.submit({ op: 'delete', name }, () => { this.registry.remove(name); this.estimates.forget(name); });
      return undefined;
    });
  }
}
