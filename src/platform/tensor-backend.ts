import * as tf from '@tensorflow/tfjs';
import type { TfBackendPreference } from './config.js';

export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  backend: TfBackendName;
  /** Why the preferred backends were skipped, for the start-up log. */
  skipped: { backend: TfBackendName; reason: string }[];
}

let chosen: Promise<BackendChoice> | undefined;

async function tryBackend(name: TfBackendName): Promise<void> {
  if (name === 'tensorflow') {
    // Optional dependency: its install downloads libtensorflow and is skipped where that fails.
    await import('@tensorflow/tfjs-node' as string);
  } else if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

/**
 * Picks the TensorFlow.js backend once per process: tfjs-node when it loads,
 * else wasm, else the pure-JS cpu backend. A forced preference fails loudly
 * rather than silently falling back.
 */
export function selectTensorBackend(preference: TfBackendPreference = 'auto'): Promise<BackendChoice> {
  chosen ??= (async () => {
    const order: TfBackendName[] = preference === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [preference];
    const skipped: BackendChoice['skipped'] = [];
    for (const name of order) {
      try {
        await tryBackend(name);
        return { backend: name, skipped };
      } catch (err) {
        skipped.push({ backend: name, reason: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
      }
    }
    throw new Error(`No TensorFlow.js backend could be initialised: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`);
  })();
  return chosen;
}
