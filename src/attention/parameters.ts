import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng.js';

/**
 * The named trainable variables of a network. Names ("core.hh.weight") are the
 * keys of the saved weights, so they must stay stable across versions.
 */
export class Parameters {
  private readonly byName = new Map<string, tf.Variable>();

  constructor(private readonly rng: Rng) {}

  /** Uniform(−bound, bound). */
  uniform(name: string, shape: number[], bound: number): tf.Variable {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = this.rng.uniform(-bound, bound);
    return this.add(name, tf.tensor(values, shape));
  }

  zeros(name: string, shape: number[]): tf.Variable {
    return this.add(name, tf.zeros(shape));
  }

  private add(name: string, value: tf.Tensor): tf.Variable {
    if (this.byName.has(name)) throw new Error(`duplicate parameter ${name}`);
    const variable = tf.variable(value, true, `${name}_${uniqueSuffix()}`);
    value.dispose();
    this.byName.set(name, variable);
    return variable;
  }

  get(name: string): tf.Variable {
    const v = this.byName.get(name);
    if (!v) throw new Error(`unknown parameter ${name}`);
    return v;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  variables(): tf.Variable[] {
    return [...this.byName.values()];
  }

  entries(): [string, tf.Variable][] {
    return [...this.byName.entries()];
  }

  count(): number {
    let n = 0;
    for (const v of this.byName.values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.byName.values()) v.dispose();
    this.byName.clear();
  }
}

// tf variable names are global per process; several models may coexist.
let counter = 0;
function uniqueSuffix(): number {
  return ++counter;
}
