/** p ∝ exp(λ·score), computed relative to the maximum so large λ cannot overflow. */
export function softmaxPmf(scores: ArrayLike<number>, k: number, lambda: number, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < k; i++) if (scores[i]! > max) max = scores[i]!;
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const e = Math.exp(lambda * (scores[i]! - max));
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < k; i++) out[i] = out[i]! / sum;
}
