/** Uniform over the k actions: a logging / A-B baseline. */
export function uniformPmf(k: number, out: Float64Array): void {
  const p = 1 / k;
  for (let i = 0; i < k; i++) out[i] = p;
}
