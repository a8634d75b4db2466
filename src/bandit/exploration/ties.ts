/** The maximum of scores[0..k) and how many entries reach it exactly (ties share mass). */
export function maxAndTies(scores: ArrayLike<number>, k: number): { max: number; ties: number } {
  let max = -Infinity;
  let ties = 0;
  for (let i = 0; i < k; i++) {
    const s = scores[i]!;
    if (s > max) {
      max = s;
      ties = 1;
    } else if (s === max) {
      ties++;
    }
  }
  return { max, ties };
}
