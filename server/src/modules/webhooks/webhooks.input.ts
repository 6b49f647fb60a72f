// The webhooks module's input checks: each failure is BAD_USER_INPUT naming its field.
import { badInput } from '../../lib/errors';
import { clip, textProblem } from '../../lib/input';
import { WEBHOOK_EVENT_TYPES } from './ports';

export const MAX_URL_LENGTH = 2048;
const KNOWN: ReadonlySet<string> = new Set(WEBHOOK_EVENT_TYPES);

/** An absolute http(s) URL without credentials, at most MAX_URL_LENGTH characters, as given. */
export function checkUrl(url: string, field: string[]): string {
  if (url.length > MAX_URL_LENGTH) throw badInput(field, `must be at most ${MAX_URL_LENGTH} characters`);
  const problem = textProblem(url);
  if (problem) throw badInput(field, problem);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badInput(field, `is not an absolute URL: "${clip(url)}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw badInput(field, `must be an http or https URL, not ${clip(u.protocol)}`);
  if (!u.hostname) throw badInput(field, 'must name a host');
  if (u.username || u.password) throw badInput(field, 'may not carry a user name or password');
  return url;
}

/** Known event types, each once (empty: every type). */
export function checkEventTypes(types: readonly string[], field: string[]): string[] {
  if (types.length > WEBHOOK_EVENT_TYPES.length * 4) throw badInput(field, 'lists too many event types');
  types.forEach((t, i) => {
    if (!KNOWN.has(t))
      throw badInput(
        [...field, String(i)],
        `unknown event type "${clip(t)}" (one of ${WEBHOOK_EVENT_TYPES.join(', ')})`,
      );
  });
  return [...new Set(types)];
}
