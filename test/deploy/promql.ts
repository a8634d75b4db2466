/**
 * The metric names a PromQL expression reads, for checking dashboards and alert rules against `/metrics`.
 *
 * Not a PromQL parser: it removes everything that can hold an identifier which is not a metric name, then
 * keeps the identifiers that remain. That is enough for the expressions we write (selectors, functions,
 * aggregations with by/without, binary operators, vector matching, subqueries, Grafana variables), and it
 * errs on the side of reporting too much: an unknown word shows up as a "metric" and fails the test, it is
 * never silently skipped. (@prometheus-io/lezer-promql is the full grammar, but pulls an editor toolkit for
 * what a dozen lines do here.)
 */

/** PromQL keywords and operators spelled as words (never metric names in our expressions). */
const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2',
  'inf', 'nan', 'start', 'end',
]);

export function metricNames(expr: string): Set<string> {
  let s = expr;
  // 1. String literals (label values, label_replace arguments, regexes) may contain any word.
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  // 2. Label matchers `{...}` name labels, not metrics (the metric before the brace stays).
  s = s.replace(/\{[^}]*\}/g, ' ');
  // 3. Range and subquery brackets hold durations and Grafana variables such as $__rate_interval.
  s = s.replace(/\[[^\]]*\]/g, ' ');
  // 4. Label lists after by/without/on/ignoring/group_left/group_right name labels.
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // 5. `offset 5m` / `@ 1609746000`: durations and timestamps.
  s = s.replace(/\boffset\s+-?\w+/g, ' ').replace(/@\s*[\w.()]+/g, ' ');
  // 6. Grafana template variables ($model, ${model}, [[model]]) that survived outside matchers.
  s = s.replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  // An identifier followed by `(` is a function or aggregation; numbers (1e3, 0.99, 5m) never start with a letter
  // once durations are gone, but exponents like 1e3 do contain one: the lookbehind skips words glued to a digit,
  // and the lookahead takes whole words only (no backtracking from `sum(` to `su`).
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()/g)) {
    const word = m[1]!;
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return names;
}

/** Suffixes Prometheus adds to histogram and summary families (the family is what `# TYPE` declares). */
export function familyOf(series: string, families: ReadonlySet<string>): string | undefined {
  if (families.has(series)) return series;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (series.endsWith(suffix) && families.has(series.slice(0, -suffix.length))) return series.slice(0, -suffix.length);
  }
  return undefined;
}
