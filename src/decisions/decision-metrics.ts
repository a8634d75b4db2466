import type { Metrics } from '../platform/metrics.js';

export type DecisionMetrics = ReturnType<typeof createDecisionMetrics>;

/** The bandit's Prometheus metrics, every label declared here. */
export function createDecisionMetrics(metrics: Metrics, pendingByModel: () => { model: string; n: number }[]) {
  return {
    decisions: metrics.counter('focal_bandit_decisions_total', 'Decisions logged, by model and exploration strategy.', ['model', 'strategy']),
    rewards: metrics.counter('focal_bandit_rewards_total', 'Rewards received from clients, by model.', ['model']),
    // A gauge, not a counter: rewards may be negative.
    rewardSum: metrics.gauge('focal_bandit_reward_sum', 'Sum of rewards received from clients, by model.', ['model']),
    defaultRewards: metrics.counter('focal_bandit_default_rewards_total', 'Default rewards applied when a reward window closed empty, by model.', ['model']),
    pending: metrics.gauge('focal_bandit_pending_events', 'Logged decisions whose reward window is still open, by model.', ['model'], function collect() {
      this.reset();
      for (const { model, n } of pendingByModel()) this.set({ model }, n);
    }),
    apprentice: metrics.counter('focal_bandit_apprentice_decisions_total', 'Decisions made in apprentice mode, by model and whether the model\'s own draw was the baseline it answered.', ['model', 'imitated']),
    activations: metrics.counter('focal_bandit_activations_total', 'Deferred decisions activated (each slot of a multi-slot decision counts), by model.', ['model']),
    learningErrors: metrics.counter('focal_bandit_learning_errors_total', 'Learning steps that threw after their reward was committed (the reward stands; the model moved past it), by model.', ['model']),
    updates: metrics.counter('focal_bandit_model_updates_total', 'Learning updates folded into models, by model.', ['model']),
    updateDuration: metrics.histogram('focal_bandit_update_duration_seconds', 'Time of one online learning update.', ['model'],
      [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01]),
    snapshotDuration: metrics.histogram('focal_bandit_snapshot_duration_seconds', 'Time to serialise and store one model snapshot.', ['model'],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]),
    commitSize: metrics.histogram('focal_bandit_group_commit_size', 'Writes handed to the writer thread together (it may merge several such groups into one transaction).', [],
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    commitDuration: metrics.histogram('focal_bandit_group_commit_duration_seconds', 'From handing a group to the writer until it is durable (queueing and fsync included).', [],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]),
  };
}
