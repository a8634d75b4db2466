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

/**
 * One vote for the argmax of scores[offset..offset+k), split equally among
 * tied entries, added to out[0..k). Bagging (one vote per bag) and Thompson
 * sampling (one per posterior draw) count their votes with it.
 */
export function addArgmaxVote(scores: ArrayLike<number>, offset: number, k: number, out: Float64Array): void {
  let max = -Infinity;
  let ties = 0;
  for (let i = 0; i < k; i++) {
    const s = scores[offset + i]!;
    if (s > max) {
      max = s;
      ties = 1;
    } else if (s === max) {
      ties++;
    }
  }
  const vote = 1 / ties;
  for (let i = 0; i < k; i++) if (scores[offset + i] === max) out[i] = out[i]! + vote;
}
