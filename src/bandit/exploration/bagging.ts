/**
 * Vote share of bootstrap replicas: each bag's argmax gets one vote (split among
 * its ties). `bagScores` is row-major bags × k.
 */
export function baggingPmf(bagScores: ArrayLike<number>, bags: number, k: number, out: Float64Array): void {
  for (let i = 0; i < k; i++) out[i] = 0;
  for (let b = 0; b < bags; b++) {
    const row = b * k;
    let max = -Infinity;
    let ties = 0;
    for (let i = 0; i < k; i++) {
      const s = bagScores[row + i]!;
      if (s > max) {
        max = s;
        ties = 1;
      } else if (s === max) ties++;
    }
    const vote = 1 / ties;
    for (let i = 0; i < k; i++) if (bagScores[row + i] === max) out[i] = out[i]! + vote;
  }
  // Votes are counted first and divided once, so a unanimous action gets exactly 1.
  for (let i = 0; i < k; i++) out[i] = out[i]! / bags;
}
