import type { DecisionMetrics } from './decision-metrics.js';
import type { DecisionsWriter } from './decisions-writer.js';
import type { ModelEntry, ModelRegistry } from './model-registry.js';
import type { WriteOp } from './write-executor.js';

type SnapshotOp = Extract<WriteOp, { op: 'snapshot' }>;

/**
 * Snapshots of the models' learned state, each recording the last reward-log seq it folds in, so start-up
 * loads it and replays only the rows after it (model-learning.ts). Taken every FOCAL_SNAPSHOT_INTERVAL_SECONDS for the
 * models whose state moved, and of every model on close.
 */
export class Snapshots {
  constructor(private readonly registry: ModelRegistry, private readonly writer: DecisionsWriter, private readonly metrics: DecisionMetrics) {}

  /** Snapshots every model whose state moved since its last snapshot. */
  async take(): Promise<void> {
    if (!this.writer.isReady) return;
    const [op, effect] = this.op(false);
    if (op.items.length === 0) return;
    await this.writer.accepting().submit(op, effect);
  }

  /** The op that snapshots the models (all of them if `force`) and the effect that records it once durable. */
  op(force: boolean): [SnapshotOp, () => void] {
    const items: SnapshotOp['items'] = [];
    const taken: { entry: ModelEntry; seq: number }[] = [];
    for (const entry of this.registry.all()) {
      if (!force && entry.lastSeq === entry.snapshotSeq) continue;
      const end = this.metrics.snapshotDuration.startTimer({ model: entry.name });
      items.push({ name: entry.name, version: entry.version, seq: entry.lastSeq, state: entry.bandit.snapshot() });
      end();
      taken.push({ entry, seq: entry.lastSeq });
    }
    const effect = () => { for (const t of taken) t.entry.snapshotSeq = Math.max(t.entry.snapshotSeq, t.seq); };
    return [{ op: 'snapshot', items, now: Date.now() }, effect];
  }
}
