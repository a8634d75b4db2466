import type { Harness } from '../decisions/harness.js';

export const ACTIONS = ['a0', 'a1', 'a2', 'a3'];

/** Logs `n` decisions on `model` and rewards each at once (segment s_i pays 1 for a_i); returns their event ids. */
export async function logEvents(h: Harness, model: string, n: number, offset = 0): Promise<string[]> {
  const ids: string[] = [];
  const batch = 50;
  for (let start = 0; start < n; start += batch) {
    const decided = await Promise.all(Array.from({ length: Math.min(batch, n - start) }, (_, j) => {
      const i = offset + start + j;
      const seg = i % 4;
      return h.service.decide({ model, context: { user: { seg: `s${seg}` }, hour: (i * 7) % 24, noise: { n: `n${i % 3}` } }, eventId: `${model}-${i}` })
        .then((d) => ({ d, seg }));
    }));
    // Rewards in decision order, so the model learns in the order the log exports.
    for (const { d, seg } of decided) {
      const [r] = await h.service.reward([{ eventId: d.eventId, reward: d.action === `a${seg}` ? 1 : 0 }], () => { throw new Error('not a decision'); });
      if (r!.status !== 200) throw new Error(`reward ${r!.status} ${JSON.stringify(r!.body)}`);
      ids.push(d.eventId);
    }
  }
  return ids;
}
