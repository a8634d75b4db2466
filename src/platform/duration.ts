/**
 * Durations as operators write them: a whole number and a unit, `90s`, `15m`, `12h`, `30d`
 * (FOCAL_LOG_RETENTION, a model's `log.retention`).
 */
export const DURATION_PATTERN = '^[1-9][0-9]{0,5}(s|m|h|d)$';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of `text`, or undefined if it is not a duration of DURATION_PATTERN. */
export function parseDuration(text: string): number | undefined {
  const m = new RegExp(DURATION_PATTERN).exec(text.trim());
  return m ? Number(text.trim().slice(0, -1)) * UNIT_MS[m[1]!]! : undefined;
}
