import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../platform/metrics.js';

/** The images slice's metrics, registered once per app on its registry. */
export interface ImageMetrics {
  classificationSeconds: Histogram<'model'>;
  classifications: Counter<'model' | 'label'>;
  feedback: Counter<'model' | 'kind'>;
  feedbackCorrect: Counter<'model'>;
  feedbackAccuracy: Gauge<'model'>;
  onlineUpdates: Counter<'model'>;
  snapshots: Counter<'model'>;
  modelUpdates: Gauge<'model'>;
  /** Live TensorFlow.js tensors in each image worker, as reported with its last answer. */
  workerTensors: Gauge<'worker'>;
  workerRestarts: Counter;
  queueRejections: Counter;
  /** Lets the pool's queue depth and live workers be read at scrape time. */
  bindPool(state: () => { waiting: number; live: number }): void;
}

export function createImageMetrics(metrics: Metrics): ImageMetrics {
  let pool: () => { waiting: number; live: number } = () => ({ waiting: 0, live: 0 });
  metrics.gauge('focal_image_queue_depth', 'Classifications waiting for an image worker (bounded by FOCAL_IMAGE_QUEUE).', [],
    function () { this.set(pool().waiting); });
  metrics.gauge('focal_image_workers', 'Image worker threads running and ready.', [], function () { this.set(pool().live); });
  return {
    bindPool: (state) => { pool = state; },
    workerTensors: metrics.gauge('focal_image_worker_tensors',
      'Live TensorFlow.js tensors in each image worker thread (steady under load; growth means a leak).', ['worker']),
    workerRestarts: metrics.counter('focal_image_worker_restarts_total', 'Image worker threads that stopped and were replaced.'),
    queueRejections: metrics.counter('focal_image_queue_rejections_total',
      'Classifications refused with 503 because FOCAL_IMAGE_QUEUE classifications were already waiting.'),
    classificationSeconds: metrics.histogram('focal_image_classification_duration_seconds',
      'Time to preprocess and classify one image (excluding upload and logging), by model.',
      ['model'], [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5]),
    classifications: metrics.counter('focal_image_classifications_total', 'Images classified, by model and predicted label.', ['model', 'label']),
    feedback: metrics.counter('focal_image_feedback_total',
      'Feedback received on image events, by model and kind (label: the true label; reward: a reward only).', ['model', 'kind']),
    feedbackCorrect: metrics.counter('focal_image_feedback_correct_total', 'Feedback that confirmed the prediction (reward 1), by model.', ['model']),
    feedbackAccuracy: metrics.gauge('focal_image_feedback_accuracy',
      'Share of correct predictions over the most recent feedback (up to 500) since start, by model.', ['model']),
    onlineUpdates: metrics.counter('focal_image_online_updates_total', 'Online learning steps taken from labelled feedback, by model.', ['model']),
    snapshots: metrics.counter('focal_image_snapshots_total', 'Weight snapshots written under the data directory, by model.', ['model']),
    modelUpdates: metrics.gauge('focal_image_model_updates', 'Feedback examples folded into the served weights since the shipped model, by model.', ['model']),
  };
}

/** Accuracy over a sliding window, so the gauge follows drift instead of averaging all history. */
export class AccuracyWindow {
  private readonly outcomes: boolean[] = [];
  private correct = 0;

  constructor(private readonly size = 500) {}

  add(correct: boolean): number {
    this.outcomes.push(correct);
    if (correct) this.correct++;
    if (this.outcomes.length > this.size && this.outcomes.shift()) this.correct--;
    return this.correct / this.outcomes.length;
  }
}
