import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ForbiddenError, UnauthorizedError } from './errors.js';

export type AuthLevel = 'public' | 'user' | 'admin';

export interface Keys {
  apiKey: string | undefined;
  adminKey: string | undefined;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison: both sides are hashed to equal-length digests first. */
function sameKey(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** A key sent in a route's own header (`keyHeader` of its spec), e.g. Ocp-Apim-Subscription-Key. */
function headerKey(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  const key = (Array.isArray(v) ? v[0] : v)?.trim();
  return key ? key : undefined;
}

/**
 * Throws unless the request carries a key that grants `level`.
 * With no keys configured everything is open (start-up logs a warning).
 * The admin key also grants user access; when only FOCAL_API_KEY is set it
 * grants admin access too. `keyHeader`: a header that may carry the key when no bearer token is sent.
 */
export function authorize(req: IncomingMessage, level: AuthLevel, keys: Keys, keyHeader?: string): void {
  if (level === 'public' || (!keys.apiKey && !keys.adminKey)) return;
  if (level === 'user' && keys.apiKey === undefined) return;
  const token = bearer(req) ?? (keyHeader !== undefined ? headerKey(req, keyHeader) : undefined);
  if (token === undefined) throw new UnauthorizedError();
  const isAdmin = keys.adminKey !== undefined && sameKey(token, keys.adminKey);
  const isUser = keys.apiKey !== undefined && sameKey(token, keys.apiKey);
  if (level === 'admin') {
    if (isAdmin) return;
    if (keys.adminKey === undefined && isUser) return;
    if (isUser) throw new ForbiddenError('This operation needs the admin key (FOCAL_ADMIN_KEY)');
    throw new UnauthorizedError();
  }
  if (isUser || isAdmin) return;
  throw new UnauthorizedError();
}
