import * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import type { Parameters } from './parameters.js';

export type CoreType = 'rnn' | 'lstm';

export interface CoreState {
  h: tf.Tensor2D;
  /** LSTM cell; absent for the plain RNN. */
  c?: tf.Tensor2D;
}

export interface CoreNetwork {
  readonly hiddenSize: number;
  initial(batch: number): CoreState;
  step(state: CoreState, glimpse: tf.Tensor2D): CoreState;
}

/**
 * h_t = ReLU(Linear(h_{t−1}) + Linear(g_t)), the paper's core for classification;
 * the two Linears are one Dense over [h_{t−1}, g_t].
 */
export class RnnCore implements CoreNetwork {
  private readonly recurrent: Dense;

  constructor(params: Parameters, inputs: number, readonly hiddenSize: number) {
    this.recurrent = new Dense(params, 'core.rnn', hiddenSize + inputs, hiddenSize, 'relu');
  }

  initial(batch: number): CoreState {
    return { h: tf.zeros([batch, this.hiddenSize]) };
  }

  step(state: CoreState, glimpse: tf.Tensor2D): CoreState {
    return { h: this.recurrent.apply([state.h, glimpse]) };
  }
}

/** LSTM core (the paper's choice for the dynamic environment): gates i, f, o, c̃ from [h_{t−1}, g_t]. */
export class LstmCore implements CoreNetwork {
  private readonly gates: Dense;

  constructor(params: Parameters, inputs: number, readonly hiddenSize: number) {
    this.gates = new Dense(params, 'core.lstm', hiddenSize + inputs, 4 * hiddenSize);
  }

  initial(batch: number): CoreState {
    return { h: tf.zeros([batch, this.hiddenSize]), c: tf.zeros([batch, this.hiddenSize]) };
  }

  step(state: CoreState, glimpse: tf.Tensor2D): CoreState {
    return lstmCell(this.gates.apply([state.h, glimpse]), state.c!);
  }
}

/**
 * The LSTM's cell update from its pre-activation gates [i, f, o, c̃] (batch × 4·hidden) and the previous cell:
 * c = σ(f)·c_{t−1} + σ(i)·tanh(c̃), h = σ(o)·tanh(c). Shared by LstmCore (training, under the tape) and the serving
 * path (inference.ts), so the two compute the same kernels.
 */
export function lstmCell(gates: tf.Tensor2D, previous: tf.Tensor2D): Required<CoreState> {
  const [i, f, o, candidate] = tf.split(gates, 4, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  const c = tf.add<tf.Tensor2D>(tf.mul(tf.sigmoid(f), previous), tf.mul(tf.sigmoid(i), tf.tanh(candidate)));
  const h = tf.mul<tf.Tensor2D>(tf.sigmoid(o), tf.tanh(c));
  return { h, c };
}

export function createCore(type: CoreType, params: Parameters, inputs: number, hiddenSize: number): CoreNetwork {
  const factories: Record<CoreType, () => CoreNetwork> = {
    rnn: () => new RnnCore(params, inputs, hiddenSize),
    lstm: () => new LstmCore(params, inputs, hiddenSize),
  };
  const factory = factories[type];
  if (!factory) throw new Error(`unknown core type ${String(type)}`);
  return factory();
}
