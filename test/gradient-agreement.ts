import assert from 'node:assert/strict';
import type * as tf from '@tensorflow/tfjs';
import type { HybridLossValues } from '../src/attention/backprop.js';

/**
 * Test support: asserts that two ways of computing the hybrid loss's gradients (the tape and the hand-written
 * backward pass) give the same parameters, the same loss values (to 1e-5) and the same gradients (each to 1e-4 of
 * its largest entry). `what` names the case in failure messages.
 */
export function assertSameGradients(
  tape: { grads: Map<string, tf.Tensor>; result: HybridLossValues },
  fast: { grads: Map<string, tf.Tensor>; result: HybridLossValues },
  what: string,
): void {
  assert.deepEqual([...fast.grads.keys()].sort(), [...tape.grads.keys()].sort(), `${what}: the same parameters get gradients`);
  for (const key of ['loss', 'classification', 'baseline', 'reinforce', 'accuracy'] as const) {
    assert.ok(Math.abs(fast.result[key] - tape.result[key]) < 1e-5, `${what} ${key}: ${fast.result[key]} vs ${tape.result[key]}`);
  }
  for (const [name, g] of tape.grads) {
    const a = g.dataSync();
    const b = fast.grads.get(name)!.dataSync();
    assert.equal(a.length, b.length);
    let diff = 0;
    let scale = 1e-6;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(a[i]!));
    }
    assert.ok(diff / scale < 1e-4, `${what} ${name}: max difference ${diff} at scale ${scale}`);
  }
}
