/**
 * A worker thread of `npm run render:photos -- --workers N`: renders the chunks of pictures the main thread sends
 * (RenderChunk) and posts each back (RenderedChunk), its buffers transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readMnist } from '../../src/attention/mnist-dataset.js';
import { renderPicture, SIDE, type PhotoSetSettings, type RenderChunk, type RenderedChunk } from './photo-set-render.js';

const settings = workerData as PhotoSetSettings;
const train = readMnist('train');
const port = parentPort!;

port.on('message', (chunk: RenderChunk) => {
  void (async () => {
    let reply: RenderedChunk;
    try {
      const n = chunk.to - chunk.from;
      const images = new Uint8Array(n * SIDE * SIDE);
      const labels = new Uint8Array(n);
      for (let k = 0; k < n; k++) labels[k] = await renderPicture(train, chunk.from + k, settings, images, k);
      reply = { ...chunk, images, labels };
      port.postMessage(reply, [images.buffer, labels.buffer]);
    } catch (err) {
      reply = { error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
      port.postMessage(reply);
    }
  })();
});
