import type { AnyRoute } from './http/route.js';
import type { Config } from './platform/config.js';
import type { Logger } from './platform/logger.js';
import type { Metrics } from './platform/metrics.js';
import type { TfBackendName } from './platform/tensor-backend.js';
import type { Db } from './store/database.js';

/**
 * The contract between the app (src/app.ts, which wires) and the capabilities (vertical slices such as
 * src/decisions/ and src/images/, which serve). A leaf module: slices import it, never the app, so the
 * app can import the slice list without an import circle.
 */

/** What the service runs on: configuration, store, logging, metrics and the TensorFlow.js backend. */
export interface ServiceDeps {
  config: Config;
  db: Db;
  logger: Logger;
  metrics: Metrics;
  backend: TfBackendName;
}

/** A vertical slice of the service: its routes plus its lifecycle. */
export interface Capability {
  name: string;
  routes: AnyRoute[];
  /** True once its models are loaded and it can serve. */
  isReady(): boolean;
  /** Flushes state (snapshots) before the database closes. */
  close(): Promise<void>;
}

/**
 * Feedback for a logged event, routed by the event's kind. POST /reward (owned
 * by the decisions capability) looks up the event and hands image events to
 * the handler the images capability registered for kind 'image'.
 */
export interface FeedbackItem {
  eventId: string;
  reward?: number;
  label?: string;
}

export interface FeedbackResult {
  /** HTTP status for this item: 200, or the 4xx of the contract. */
  status: number;
  body: Record<string, unknown>;
}

export type FeedbackHandler = (item: FeedbackItem) => FeedbackResult | Promise<FeedbackResult>;

/** Names a service one capability provides to those mounted after it (typed, so the provider's module is not imported here). */
export interface ServiceKey<T> {
  readonly name: string;
  /** Never set: carries T. */
  readonly type?: T;
}

export function serviceKey<T>(name: string): ServiceKey<T> {
  return { name };
}

/**
 * Services capabilities share: a slice provides what others build on (the decisions slice its service and
 * evaluation jobs, which the Personalizer adapter calls), a later slice asks for it by key.
 */
export class ServiceRegistry {
  private readonly services = new Map<string, unknown>();

  provide<T>(key: ServiceKey<T>, service: T): void {
    this.services.set(key.name, service);
  }

  /** The service under `key`; throws when no capability mounted before the caller provides it. */
  need<T>(key: ServiceKey<T>, who: string): T {
    if (!this.services.has(key.name)) throw new Error(`${who} needs the "${key.name}" service: mount the capability that provides it first`);
    return this.services.get(key.name) as T;
  }
}

/** What every capability factory receives: the service's dependencies plus shared registries. */
export interface CapabilityContext extends ServiceDeps {
  feedback: Map<string, FeedbackHandler>;
  services: ServiceRegistry;
}

export type CapabilityFactory = (ctx: CapabilityContext) => Capability | Promise<Capability>;
