import * as tf from '@tensorflow/tfjs';
import client from 'prom-client';

/**
 * One Prometheus registry per app instance (tests build many apps in one
 * process). Capabilities register their own metrics on `registry` through the
 * typed helpers below, so every label name is declared where it is used.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly httpDuration: client.Histogram<'route' | 'method' | 'status'>;
  readonly tfBackend: client.Gauge<'backend'>;
  readonly tfTensors: client.Gauge;
  readonly tfBytes: client.Gauge;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) client.collectDefaultMetrics({ register: this.registry });
    this.httpDuration = this.histogram('focal_http_request_duration_seconds', 'HTTP request duration by route template, method and status.',
      ['route', 'method', 'status'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    this.tfBackend = this.gauge('focal_tensorflow_backend_info', 'The TensorFlow.js backend in use (value 1 on the active backend label).', ['backend']);
    // Read at scrape time: a count that keeps growing under steady load means a tensor leak.
    this.tfTensors = this.gauge('focal_tensorflow_tensors', 'Live TensorFlow.js tensors on the main thread (tf.memory().numTensors); image workers report theirs in focal_image_worker_tensors.', [], function () { this.set(tf.memory().numTensors); });
    this.tfBytes = this.gauge('focal_tensorflow_bytes', 'Bytes held by live TensorFlow.js tensors.', [], function () { this.set(tf.memory().numBytes); });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): client.Counter<L> {
    return new client.Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: client.Gauge<L>) => void): client.Gauge<L> {
    return new client.Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): client.Histogram<L> {
    return new client.Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
