import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabelledImage, RamConfig } from '../attention/index.js';
import { Rng } from '../attention/rng.js';
import type { Logger } from '../platform/logger.js';
import type { ImageMetrics } from './image-metrics.js';
import type { ImageStore, LabelledFeedback } from './image-store.js';

/**
 * Online learning from labelled feedback for one served model. Each step is
 * the model's hybrid loss on the new feedback topped up with recent examples
 * from a replay buffer (so one odd example cannot drag the weights far), at a
 * small learning rate. Feedback that arrives while a step runs is learned
 * together in the next one, so a burst costs a few steps, not one per item.
 * Steps and snapshots run one at a time on a queue, so a snapshot never sees
 * half-updated weights. This class keeps the bookkeeping (queue, replay
 * buffer, applied feedback, snapshot rows) on the main thread; the steps and
 * the snapshot writes themselves run where the model lives — for the served
 * models, the image pool's learner worker (image-pool.ts), which then sends
 * the new weights to every other worker.
 */

/** What the learner needs of a model: an in-process RamModel, or the pool's learner worker. */
export interface LearnableModel {
  readonly config: Pick<RamConfig, 'classes' | 'imageSize'>;
  learn(batch: LabelledImage[], learningRate: number): number | Promise<number>;
  save(dir: string): Promise<void>;
}

export interface OnlineLearningOptions {
  /** Learning rate of each online step (Adam); well below training's. */
  learningRate: number;
  /** Examples per step: the new feedback first, then replayed ones up to this size. */
  batchSize: number;
  /** Recent labelled examples kept for replay. */
  replayCapacity: number;
  /** Snapshots kept per model; older ones are deleted. */
  keepSnapshots: number;
}

export const DEFAULT_ONLINE_LEARNING: OnlineLearningOptions = {
  learningRate: 1e-4,
  batchSize: 8,
  replayCapacity: 256,
  keepSnapshots: 3,
};

/** Where a model's snapshots live, relative to the data directory. */
export function snapshotDir(name: string, version: number): string {
  return join('models', name, `v${version}`);
}

/** Highest v<N> folder present, whether or not a row records it (a crash can leave one behind). */
async function highestSnapshotFolder(dataDir: string, name: string): Promise<number> {
  const root = join(dataDir, 'models', name);
  if (!existsSync(root)) return 0;
  let highest = 0;
  for (const entry of await readdir(root)) {
    const m = /^v(\d+)(?:\.tmp)?$/.exec(entry);
    if (m) highest = Math.max(highest, Number(m[1]));
  }
  return highest;
}

export interface OnlineLearnerState {
  /** Snapshot version the weights were loaded from (0: the shipped model). */
  version: number;
  /** Last rewards.seq folded into the weights. */
  appliedSeq: number;
  /** Feedback examples folded into the weights since the shipped model. */
  updates: number;
}

export interface OnlineLearnerDeps {
  name: string;
  model: LearnableModel;
  /** Fingerprint of the shipped folder, recorded with every snapshot. */
  base: string;
  dataDir: string;
  store: ImageStore;
  metrics: ImageMetrics;
  logger: Logger;
  options: OnlineLearningOptions;
  state: OnlineLearnerState;
}

export class OnlineLearner {
  private readonly replay: LabelledImage[] = [];
  private replayNext = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly pending: LabelledFeedback[] = [];
  private scheduled = false;
  private version: number;
  private appliedSeq: number;
  private updatesCount: number;
  private snapshotUpdates: number;
  private closed = false;

  constructor(private readonly deps: OnlineLearnerDeps) {
    this.version = deps.state.version;
    this.appliedSeq = deps.state.appliedSeq;
    this.updatesCount = deps.state.updates;
    this.snapshotUpdates = deps.state.updates;
    deps.metrics.modelUpdates.set({ model: deps.name }, this.updatesCount);
  }

  get updates(): number {
    return this.updatesCount;
  }

  get snapshotVersion(): number {
    return this.version;
  }

  /** Fills the replay buffer without learning (feedback already folded into the weights). */
  remember(items: LabelledFeedback[]): void {
    for (const item of items) {
      const label = this.deps.model.config.classes.indexOf(item.label);
      if (label >= 0) this.push({ pixels: item.pixels, label });
    }
  }

  /** Queues feedback for the next online step; returns at once. */
  learn(item: LabelledFeedback): void {
    if (this.closed) return;
    this.pending.push(item);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.pending.length === 0) return;
    this.scheduled = true;
    void this.enqueue(async () => {
      // After this turn: feedback acknowledged in the same turn joins the step.
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.scheduled = false;
      await this.step(this.pending.splice(0, this.deps.options.batchSize));
      this.schedule();
    });
  }

  /** Applies feedback at once, in order, outside the queue (start-up re-learning of what the snapshot missed). */
  async learnNow(items: LabelledFeedback[]): Promise<void> {
    for (let i = 0; i < items.length; i += this.deps.options.batchSize) await this.step(items.slice(i, i + this.deps.options.batchSize));
  }

  private async step(items: LabelledFeedback[]): Promise<void> {
    const { model, options, name } = this.deps;
    const fresh: LabelledImage[] = [];
    let seq = this.appliedSeq;
    for (const item of items) {
      const label = model.config.classes.indexOf(item.label);
      if (label < 0 || item.pixels.length !== model.config.imageSize ** 2) {
        this.deps.logger.warn({ model: name, eventId: item.eventId, label: item.label }, 'feedback does not fit the model; not learned');
      } else {
        fresh.push({ pixels: item.pixels, label });
      }
      seq = Math.max(seq, item.seq);
    }
    if (fresh.length === 0) {
      this.appliedSeq = seq;
      return;
    }
    // Seeded by the feedback (the attention model's own generator), so re-learning after a restart picks the
    // same partners from the same buffer.
    const rng = new Rng(items[0]!.seq);
    const random = () => rng.next();
    const batch = [...fresh];
    const fill = Math.min(options.batchSize - fresh.length, this.replay.length);
    for (let i = 0; i < fill; i++) batch.push(this.replay[Math.floor(random() * this.replay.length)]!);
    await model.learn(batch, options.learningRate);
    // Only once the step is taken: a snapshot records the feedback its weights hold, no more.
    this.appliedSeq = seq;
    for (const example of fresh) this.push(example);
    this.updatesCount += fresh.length;
    this.deps.metrics.onlineUpdates.inc({ model: name });
    this.deps.metrics.modelUpdates.set({ model: name }, this.updatesCount);
  }

  private push(example: LabelledImage): void {
    if (this.replay.length < this.deps.options.replayCapacity) this.replay.push(example);
    else this.replay[this.replayNext] = example;
    this.replayNext = (this.replayNext + 1) % this.deps.options.replayCapacity;
  }

  private enqueue(job: () => void | Promise<void>): Promise<void> {
    const run = this.queue.then(job);
    // A failed step is logged and the queue goes on; the feedback stays in the log for the next start.
    this.queue = run.catch((err: unknown) => {
      this.deps.logger.error({ err, model: this.deps.name }, 'online learning job failed');
    });
    return this.queue;
  }

  /** Resolves when every queued step and snapshot has finished. */
  async idle(): Promise<void> {
    do await this.enqueue(() => undefined);
    while (this.scheduled || this.pending.length > 0);
  }

  /** Queues a snapshot if the weights changed since the last one. */
  snapshot(): Promise<void> {
    return this.enqueue(() => this.writeSnapshot());
  }

  /**
   * Writes the weights to <dataDir>/models/<name>/v<N>/ — into a .tmp folder
   * renamed when complete — and only then records the row that makes start-up
   * use it, so a crash mid-write leaves the previous snapshot in charge.
   */
  private async writeSnapshot(): Promise<void> {
    if (this.updatesCount === this.snapshotUpdates) return;
    const { name, dataDir, store, model } = this.deps;
    const version = Math.max(this.version, ...store.snapshots(name).map((s) => s.version), await highestSnapshotFolder(dataDir, name)) + 1;
    const relative = snapshotDir(name, version);
    const dir = join(dataDir, relative);
    await rm(`${dir}.tmp`, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
    await model.save(`${dir}.tmp`);
    await rename(`${dir}.tmp`, dir);
    store.recordSnapshot(name, version, this.appliedSeq, { dir: relative, base: this.deps.base, updates: this.updatesCount });
    this.version = version;
    this.snapshotUpdates = this.updatesCount;
    this.deps.metrics.snapshots.inc({ model: name });
    this.deps.logger.info({ model: name, version, dir, rewardSeq: this.appliedSeq, updates: this.updatesCount }, 'image model snapshot written');
    for (const old of store.snapshots(name).slice(this.deps.options.keepSnapshots)) {
      store.deleteSnapshot(name, old.version);
      await rm(join(dataDir, old.state.dir), { recursive: true, force: true });
    }
  }

  /** Finishes queued work, writes a last snapshot and stops taking feedback. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    await this.snapshot();
  }
}
