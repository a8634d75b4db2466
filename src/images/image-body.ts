import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request, RequestHandler, Response } from 'express';
import { HttpError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../http/errors.js';
import { jsonContentTypeError, parseJsonBytes } from '../http/pipeline.js';
import { check, compile } from '../http/validation.js';

/**
 * Reads an uploaded image in any of the three forms of POST /classify-image —
 * raw bytes, multipart field `image`, JSON base64 — counting bytes as they
 * arrive and stopping at FOCAL_MAX_IMAGE_BYTES, so no form can make the server
 * buffer more than the limit.
 */

export const RAW_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'] as const;
/** Common mislabels of the types above, accepted as their canonical type. */
const ALIASES: Record<string, string> = { 'image/jpg': 'image/jpeg', 'image/pjpeg': 'image/jpeg', 'image/x-png': 'image/png' };

export type ImageForm = 'raw' | 'multipart' | 'json';

export interface ImageUpload {
  bytes: Buffer;
  form: ImageForm;
  /** The media type the client declared (raw form) or sent for the file part (multipart). */
  declaredType: string | undefined;
}

const LIMIT = 'FOCAL_MAX_IMAGE_BYTES';
/** Room for multipart boundaries and part headers on top of the file itself. */
const MULTIPART_OVERHEAD = 64 * 1024;
/** Room for `{"image": ""}`, whitespace and a data-URL prefix on top of the base64 text. */
const JSON_OVERHEAD = 4 * 1024;

function tooLarge(max: number, what = 'The image'): PayloadTooLargeError {
  return new PayloadTooLargeError(`${what} exceeds the limit of ${max} bytes (${LIMIT})`, LIMIT, max);
}

function mediaType(headers: IncomingHttpHeaders): string | undefined {
  const raw = headers['content-type'];
  if (!raw) return undefined;
  const type = raw.split(';')[0]!.trim().toLowerCase();
  return ALIASES[type] ?? type;
}

function declaredLength(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['content-length'];
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

/**
 * Stops taking the request: the rest of the body is discarded as it arrives
 * (never buffered) and the connection is not reused, so a client streaming
 * gigabytes is cut off after the response.
 */
function abandon(req: Request, res: Response): void {
  res.setHeader('Connection', 'close');
  req.unpipe();
  req.resume();
}

/** Collects `stream` into one buffer, failing as soon as more than `max` bytes arrived. */
function collect(stream: Readable, max: number, onTooLarge: () => HttpError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > max) {
        cleanup();
        reject(onTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => { cleanup(); resolve(Buffer.concat(chunks, received)); };
    const onError = (err: Error) => { cleanup(); reject(new ValidationError(`The request body could not be read: ${err.message}`)); };
    const onAborted = () => { cleanup(); reject(new ValidationError('The request body was aborted before it ended')); };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
  });
}

async function readRaw(req: Request, max: number, declaredType: string): Promise<ImageUpload> {
  const length = declaredLength(req.headers);
  if (length !== undefined && length > max) throw tooLarge(max);
  const bytes = await collect(req, max, () => tooLarge(max));
  return { bytes, form: 'raw', declaredType };
}

function readMultipart(req: Request, max: number): Promise<ImageUpload> {
  const length = declaredLength(req.headers);
  if (length !== undefined && length > max + MULTIPART_OVERHEAD) return Promise.reject(tooLarge(max, 'The multipart body'));
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // Only the one file matters; everything else is bounded tightly.
        limits: { files: 1, fileSize: max, fields: 16, fieldSize: 1024, parts: 32, headerPairs: 32 },
      });
    } catch (err) {
      reject(new ValidationError(`The multipart body cannot be parsed: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    let image: Promise<ImageUpload> | undefined;
    let settled = false;
    // The whole body is bounded too: parts busboy skips (other fields, extra files) still arrive.
    let total = 0;
    const count = (chunk: Buffer) => {
      total += chunk.length;
      if (total > max + MULTIPART_OVERHEAD) fail(tooLarge(max, 'The multipart body'));
    };
    req.on('data', count);
    const fail = (err: HttpError) => {
      if (settled) return;
      settled = true;
      req.off('data', count);
      reject(err);
    };
    parser.on('file', (name, stream, info) => {
      if (name !== 'image' || image) {
        stream.resume();
        return;
      }
      // busboy truncates at fileSize and says so with 'limit'.
      stream.on('limit', () => fail(tooLarge(max)));
      image = collect(stream, max, () => tooLarge(max)).then((bytes) => ({ bytes, form: 'multipart' as const, declaredType: info.mimeType }));
      image.catch(fail);
    });
    parser.on('error', (err: Error) => fail(new ValidationError(`The multipart body cannot be parsed: ${err.message}`)));
    parser.on('close', () => {
      if (settled) return;
      if (!image) {
        fail(new ValidationError('The multipart body has no file field "image"', [{ path: '/image', message: 'is required' }]));
        return;
      }
      image.then((upload) => {
        if (settled) return;
        settled = true;
        req.off('data', count);
        resolve(upload);
      }, fail);
    });
    req.on('aborted', () => fail(new ValidationError('The request body was aborted before it ended')));
    req.pipe(parser);
  });
}

const jsonBodySchema = {
  type: 'object',
  required: ['image'],
  additionalProperties: false,
  properties: { image: { type: 'string', minLength: 1, description: 'The image file, base64-encoded (a data: URL prefix is allowed).' } },
} as const;
const validateJson = compile(jsonBodySchema, 'body');
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

async function readJson(req: Request, max: number): Promise<ImageUpload> {
  // Base64 spends 4 characters per 3 bytes.
  const jsonMax = Math.ceil(max / 3) * 4 + JSON_OVERHEAD;
  const length = declaredLength(req.headers);
  const base64TooLarge = () => tooLarge(max, 'The base64 image');
  if (length !== undefined && length > jsonMax) throw base64TooLarge();
  // Read as every JSON body is (the pipeline's parseJsonBytes: UTF-8, a BOM skipped).
  const { body } = parseJsonBytes(await collect(req, jsonMax, base64TooLarge));
  const { image } = check<{ image: string }>(validateJson, body, 'body');
  const encoded = image.replace(/^data:[^,]{0,100};base64,/i, '').replace(/\s+/g, '');
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) {
    throw new ValidationError('image must be base64-encoded', [{ path: '/image', message: 'must be base64-encoded' }]);
  }
  if (Math.floor((encoded.length * 3) / 4) - (encoded.endsWith('==') ? 2 : encoded.endsWith('=') ? 1 : 0) > max) throw base64TooLarge();
  // Node's decoder reads both the standard and the URL-safe alphabet.
  const bytes = Buffer.from(encoded, 'base64');
  return { bytes, form: 'json', declaredType: undefined };
}

/** Reads the image into `res.locals.image`; 413 over the limit, 415 for another media type. */
export function readImageBody(maxBytes: number): RequestHandler {
  return async (req, res, next) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      // Compressed uploads would put a decompression step before the byte limit.
      throw new UnsupportedMediaTypeError(`Content-Encoding ${encoding} is not accepted: send the image uncompressed (image formats compress themselves)`);
    }
    const type = mediaType(req.headers);
    let upload: ImageUpload;
    try {
      if (type && (RAW_IMAGE_TYPES as readonly string[]).includes(type)) upload = await readRaw(req, maxBytes, type);
      else if (type === 'multipart/form-data') upload = await readMultipart(req, maxBytes);
      else if (type === 'application/json' || type?.endsWith('+json')) {
        // The media type and charset as the pipeline checks them for every JSON body (415 for another charset).
        const typeError = jsonContentTypeError(req.headers['content-type']);
        if (typeError) throw typeError;
        upload = await readJson(req, maxBytes);
      } else {
        throw new UnsupportedMediaTypeError(`Content-Type ${type ?? '(none)'} is not accepted: send ${RAW_IMAGE_TYPES.join(', ')}, `
          + 'multipart/form-data with a file field "image", or application/json {"image": "<base64>"}');
      }
    } catch (err) {
      if (!req.complete) abandon(req, res);
      throw err;
    }
    if (upload.bytes.length === 0) throw new ValidationError('The image is empty', [{ path: '/image', message: 'is empty' }]);
    res.locals.image = upload;
    next();
  };
}

/** The OpenAPI requestBody of the three forms. */
export const imageRequestBody: Record<string, unknown> = {
  required: true,
  description: 'The image: raw bytes, a multipart file field `image`, or JSON with the base64 bytes.',
  content: {
    ...Object.fromEntries(RAW_IMAGE_TYPES.map((t) => [t, { schema: { type: 'string', contentMediaType: t } }])),
    'multipart/form-data': {
      schema: { type: 'object', required: ['image'], properties: { image: { type: 'string', contentMediaType: 'application/octet-stream' } } },
    },
    'application/json': { schema: jsonBodySchema },
  },
};
