/**
 * The dashboard's one way to the API: Focal's typed client (clients/typescript), on this page's own origin. The key
 * the user enters lives in this tab's session storage and goes out as an Authorization header, never in a URL.
 */
import { createFocalClient, FocalProblemError, ok, type components, type FocalClient } from '../../clients/typescript/src/index.js';

export { ok, FocalProblemError };
export type Schemas = components['schemas'];

const KEY = 'focal.apiKey';

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

type Listener = (e: FocalProblemError) => void;
const unauthorized: Listener[] = [];

/** Called on every 401 or 403 (the page then asks for a key). */
export function onUnauthorized(l: Listener): void {
  unauthorized.push(l);
}

export const focal: FocalClient = createFocalClient({
  baseUrl: location.origin,
  retry: { retries: 2, maxDelayMs: 2_000 },
  fetch: (request) => {
    const key = apiKey();
    if (key) request.headers.set('Authorization', `Bearer ${key}`);
    return fetch(request);
  },
});

/** Runs a call and reports 401/403 to the listeners before rethrowing. */
export async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof FocalProblemError && (err.status === 401 || err.status === 403)) for (const l of unauthorized) l(err);
    throw err;
  }
}

/** A problem's one-line message, for the page. */
export function message(err: unknown): string {
  if (err instanceof FocalProblemError) return `${err.status} ${err.title}: ${err.detail}`;
  return err instanceof Error ? err.message : String(err);
}
