import type { FeedbackHandler, FeedbackItem, FeedbackResult } from '../capability.js';
import { ConflictError, HttpError, NotFoundError, ValidationError } from '../http/errors.js';
import type { Logger } from '../platform/logger.js';
import { AccuracyWindow, type ImageMetrics } from './image-metrics.js';
import type { ImageWriter } from './event-writer.js';
import { decodePixels, IMAGE_EVENT_KIND, type ImageStore } from './image-store.js';
import type { ImageModelEntry } from './model-catalog.js';

/**
 * Feedback on a classification, handed over by POST /reward for events of
 * kind 'image': `{eventId, label}` (the true label; reward 1 if the prediction
 * was right, else 0) or `{eventId, reward}` (a reward of 1 confirms the
 * prediction, so it teaches like its label). Logged durably first; the model
 * learns from it afterwards, on its learner's queue.
 */

export interface FeedbackDeps {
  store: ImageStore;
  writer: ImageWriter;
  models: Map<string, ImageModelEntry>;
  metrics: ImageMetrics;
  logger: Logger;
}

function problem(err: HttpError): FeedbackResult {
  return { status: err.status, body: err.toProblem() };
}

export function imageFeedbackHandler(deps: FeedbackDeps): FeedbackHandler {
  const accuracy = new Map<string, AccuracyWindow>();

  return async (item: FeedbackItem): Promise<FeedbackResult> => {
    const event = deps.store.getEvent(item.eventId);
    if (!event || event.kind !== IMAGE_EVENT_KIND) return problem(new NotFoundError(`No logged image event with eventId "${item.eventId}"`));
    const { payload } = event;
    if (event.rewardCount > 0) {
      return problem(new ConflictError(`Image event "${event.eventId}" already has feedback`, { eventId: event.eventId, reward: event.reward }));
    }
    const entry = deps.models.get(event.model);
    // The classes the event was classified over, in order: kept in the payload so feedback works even if the model is gone.
    const classes = entry?.config.classes ?? Object.keys(payload.probabilities);

    let label: string | null = null;
    let reward: number;
    if (item.label !== undefined) {
      const given = String(item.label);
      if (!classes.includes(given)) {
        return problem(new ValidationError(`label "${given.slice(0, 64)}" is not a class of model ${event.model}`,
          [{ path: '/label', message: `must be one of ${classes.map((c) => JSON.stringify(c)).join(', ')}` }]));
      }
      label = given;
      reward = label === payload.label ? 1 : 0;
      if (item.reward !== undefined && item.reward !== reward) {
        return problem(new ValidationError(`reward ${item.reward} contradicts label "${label}" (the prediction was "${payload.label}")`,
          [{ path: '/reward', message: `must be ${reward} for this label, or omitted` }]));
      }
    } else if (item.reward !== undefined) {
      if (!Number.isFinite(item.reward) || item.reward < 0 || item.reward > 1) {
        return problem(new ValidationError('reward of an image event must be between 0 (wrong) and 1 (right)',
          [{ path: '/reward', message: 'must be between 0 and 1' }]));
      }
      reward = item.reward;
      if (reward === 1) label = payload.label;
    } else {
      return problem(new ValidationError('label or reward is required', [{ path: '/label', message: 'is required' }]));
    }

    // Joined atomically on the writer (exactly one feedback per event wins) and durable before it is acknowledged.
    const outcome = await deps.writer.submit({ op: 'feedback', eventId: event.eventId, model: event.model, reward, label, now: Date.now() });
    if (!outcome.ok || outcome.seq === undefined) {
      if (!outcome.ok && outcome.reason === 'not-found') return problem(new NotFoundError(`No logged image event with eventId "${item.eventId}"`));
      return problem(new ConflictError(`Image event "${event.eventId}" already has feedback`, { eventId: event.eventId, reward: outcome.ok ? null : outcome.reward ?? null }));
    }

    const model = event.model;
    deps.metrics.feedback.inc({ model, kind: item.label !== undefined ? 'label' : 'reward' });
    if (reward === 1) deps.metrics.feedbackCorrect.inc({ model });
    if (reward === 0 || reward === 1) {
      let window = accuracy.get(model);
      if (!window) accuracy.set(model, (window = new AccuracyWindow()));
      deps.metrics.feedbackAccuracy.set({ model }, window.add(reward === 1));
    }
    const learns = label !== null && entry !== undefined;
    if (learns) entry.learner.learn({ seq: outcome.seq, eventId: event.eventId, label: label!, pixels: decodePixels(payload.pixels) });
    return {
      status: 200,
      body: { eventId: event.eventId, reward, applied: true, label, predicted: payload.label, correct: reward === 1, learning: learns ? 'queued' : 'none' },
    };
  };
}
