import type { GroupCommitter } from '../store/group-commit.js';
import { httpError } from './decisions-writer.js';
import type { OpResult } from './op-result.js';
import { slotEventId } from './slots.js';
import type { WriteOp } from './write-executor.js';

export interface RewardItem {
  eventId: string;
  reward?: number;
  label?: string;
  /** A slot of the multi-slot decision `eventId` (its logged decision is `{eventId}#{slot}`). */
  slot?: string;
}

/** One reward's outcome: an HTTP status and its body (a problem document for 4xx). */
export interface RewardResult {
  status: number;
  body: Record<string, unknown>;
}

/** Hands an item whose event another capability logged (an image) to that capability's feedback handler. */
export type FeedbackDispatch = (kind: string, item: RewardItem) => Promise<RewardResult>;

/**
 * Where rewards enter: each item becomes one `reward` op, all handed to the writer at once, which commits them
 * with whatever else is queued in groups (src/store/group-commit.ts) and applies the reward rules to each
 * (reward-rules.ts). Items are independent: each gets its own result, in order. An item the writer finds to
 * belong to another kind of event goes to `feedback`; learned rows go to `effects` once durable. The kind is
 * told on the writer because its join reads the event's row anyway: a look-up here would cost every decision
 * reward a main-thread read (ARCHITECTURE.md, "The path of a reward").
 */
export async function submitRewards(
  writer: GroupCommitter<WriteOp, OpResult>,
  items: readonly RewardItem[],
  feedback: FeedbackDispatch,
  effects: (r: OpResult) => void,
  /** PostgreSQL: the kind of an event logged only in this replica's SQLite database (an image), if any. */
  localKind?: (eventId: string) => string | undefined,
): Promise<RewardResult[]> {
  const now = Date.now();
  const done = await Promise.all(items.map((item) => writer.submit({
    op: 'reward', eventId: item.slot !== undefined ? slotEventId(item.eventId, item.slot) : item.eventId, now,
    ...(item.reward !== undefined ? { reward: item.reward } : {}), ...(item.label !== undefined ? { label: item.label } : {}),
  }, effects)));
  const results: RewardResult[] = [];
  for (const [i, r] of done.entries()) {
    const local = r.problem?.status === 404 && localKind ? localKind(items[i]!.eventId) : undefined;
    if (local !== undefined && local !== 'decision') results.push(await feedback(local, items[i]!));
    else if (r.dispatch !== undefined) results.push(await feedback(r.dispatch, items[i]!));
    else if (r.problem) results.push({ status: r.problem.status, body: httpError(r).toProblem() });
    else results.push({ status: r.status ?? 200, body: r.body ?? {} });
  }
  return results;
}
