import * as tf from '@tensorflow/tfjs';
import type { Parameters } from './parameters.js';

export type Activation = 'linear' | 'relu';

type Affine = (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;
type CustomGradArgs = Parameters_<typeof tf.customGrad>[0];
type Parameters_<F> = F extends (...args: infer A) => unknown ? A : never;

/**
 * y = act(xW + b) as ONE fused kernel with a hand-written gradient. Two reasons,
 * both measured on the wasm backend: a matMul with a transposed operand is ~20×
 * slower than a plain one (and tfjs' built-in MatMul gradient uses exactly that),
 * so the gradient transposes explicitly; and every kernel launch costs tens of
 * µs whatever its size, so matMul, bias and activation run as one.
 */
function affine(activation: Activation): Affine {
  return tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const y = tf.fused.matMul({ a: x, b: w, bias: b, activation });
    save([x, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const dz = activation === 'relu' ? tf.mul(dy, tf.step(ys)) : dy;
        return [tf.matMul(dz, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dz), tf.sum(dz, 0)];
      },
    };
  }) as unknown as CustomGradArgs) as unknown as Affine;
}

const kernels: Record<Activation, Affine> = { linear: affine('linear'), relu: affine('relu') };

/**
 * A fully connected layer: weight [in, out], bias [out]. Given several inputs it
 * reads their concatenation, i.e. Linear(a) + Linear(b) of the paper as one
 * weight [W_a; W_b] and one bias: the same function, one matMul instead of two.
 */
export class Dense {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    params: Parameters,
    name: string,
    readonly inputs: number,
    readonly outputs: number,
    readonly activation: Activation = 'linear',
  ) {
    if (activation === 'relu') {
      // He initialisation keeps the activations' scale through the glimpse
      // network and six recurrent steps; smaller inits made training crawl.
      this.weight = params.uniform(`${name}.weight`, [inputs, outputs], Math.sqrt(6 / inputs));
      this.bias = params.zeros(`${name}.bias`, [outputs]);
    } else {
      // Heads (logits, location mean, baseline) start small: near-uniform
      // classes and glimpses near the centre.
      this.weight = params.uniform(`${name}.weight`, [inputs, outputs], 1 / Math.sqrt(inputs));
      this.bias = params.uniform(`${name}.bias`, [outputs], 1 / Math.sqrt(inputs));
    }
  }

  apply(x: tf.Tensor2D | tf.Tensor2D[]): tf.Tensor2D {
    const input = Array.isArray(x) ? (x.length === 1 ? x[0]! : tf.concat(x, 1)) : x;
    return kernels[this.activation](input, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D);
  }
}
