import * as tf from '@tensorflow/tfjs';
import type { Parameters } from './parameters.js';

/**
 * Adam (Kingma & Ba) over named parameters. Our own rather than tf.train.adam so
 * that the learning rate can change every step and the moments save into a
 * checkpoint under the parameters' stable names.
 */
export class Adam {
  step = 0;
  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();

  constructor(
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-8,
  ) {}

  /** Applies one update; `grads` are keyed by parameter name. */
  apply(params: Parameters, grads: Map<string, tf.Tensor>, learningRate: number): void {
    this.step += 1;
    const correction1 = 1 - this.beta1 ** this.step;
    const correction2 = 1 - this.beta2 ** this.step;
    const rate = (learningRate * Math.sqrt(correction2)) / correction1;
    tf.tidy(() => {
      for (const [name, grad] of grads) {
        const variable = params.get(name);
        const state = this.state(name, variable);
        const m = state.m.mul(this.beta1).add(grad.mul(1 - this.beta1));
        const v = state.v.mul(this.beta2).add(grad.square().mul(1 - this.beta2));
        state.m.assign(m);
        state.v.assign(v);
        variable.assign(variable.sub(m.mul(rate).div(v.sqrt().add(this.epsilon))));
      }
    });
  }

  private state(name: string, variable: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let s = this.moments.get(name);
    if (!s) {
      s = tf.tidy(() => ({ m: tf.variable(tf.zerosLike(variable), false), v: tf.variable(tf.zerosLike(variable), false) }));
      this.moments.set(name, s);
    }
    return s;
  }

  /** Moments as named tensors, for checkpoints ("name/m", "name/v"). */
  tensors(): [string, tf.Tensor][] {
    const out: [string, tf.Tensor][] = [];
    for (const [name, s] of this.moments) out.push([`${name}/m`, s.m], [`${name}/v`, s.v]);
    return out;
  }

  restore(step: number, tensors: Map<string, { shape: number[]; values: Float32Array }>): void {
    this.dispose();
    this.step = step;
    for (const [key, t] of tensors) {
      const cut = key.lastIndexOf('/');
      const name = key.slice(0, cut);
      const which = key.slice(cut + 1);
      let s = this.moments.get(name);
      if (!s) {
        s = tf.tidy(() => ({ m: tf.variable(tf.zeros(t.shape), false), v: tf.variable(tf.zeros(t.shape), false) }));
        this.moments.set(name, s);
      }
      const target = which === 'm' ? s.m : s.v;
      tf.tidy(() => target.assign(tf.tensor(t.values, t.shape)));
    }
  }

  dispose(): void {
    for (const s of this.moments.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.moments.clear();
  }
}
