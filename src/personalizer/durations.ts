/**
 * Personalizer's time spans. The specs type them `format: duration` (ISO 8601, `PT5M`), and the .NET SDK and
 * older samples send .NET TimeSpans (`00:05:00`, `1.00:00:00`); both are read. Written back as ISO 8601.
 * Hand-written: two regular expressions, and no well-kept library reads the TimeSpan form.
 */

/** ISO 8601 duration without years and months (whose length varies): P[nW][nD][T[nH][nM][n[.f]S]]. */
const ISO = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;
/** .NET TimeSpan: [d.]hh:mm[:ss[.fffffff]]. */
const TIMESPAN = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$/;

/** Seconds of `text`, or undefined when it is neither form (or empty, like a bare `P` or `PT`). */
export function parseTimeSpan(text: string): number | undefined {
  const t = text.trim();
  const iso = ISO.exec(t);
  if (iso && !/T$/i.test(t) && t.length > 1 && iso.slice(1).some((g) => g !== undefined)) {
    const [, w, d, h, m, s] = iso;
    return Number(w ?? 0) * 604800 + Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
  }
  const ts = TIMESPAN.exec(t);
  if (ts) {
    const [, d, h, m, s, f] = ts;
    if (Number(h) > 23 || Number(m) > 59 || Number(s ?? 0) > 59) return undefined;
    return Number(d ?? 0) * 86400 + Number(h) * 3600 + Number(m) * 60 + Number(s ?? 0) + (f ? Number(`0.${f}`) : 0);
  }
  return undefined;
}

/** ISO 8601: `PT5M`, `PT1H30M`, `P1DT12H`, `PT0.5S`, `PT0S`. */
export function formatTimeSpan(seconds: number): string {
  let rest = Math.max(0, seconds);
  const days = Math.floor(rest / 86400);
  rest -= days * 86400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  rest = Math.round((rest - minutes * 60) * 1000) / 1000;
  let time = '';
  if (hours) time += `${hours}H`;
  if (minutes) time += `${minutes}M`;
  if (rest) time += `${rest}S`;
  if (!days && !time) return 'PT0S';
  return `P${days ? `${days}D` : ''}${time ? `T${time}` : ''}`;
}
