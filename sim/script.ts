// Helpers for scripting the simulator from tests and tools: request predicates and reply sequences.
import type { Behaviour, Reply, SimRequest } from './types';

/** Default agent answer: a deterministic one-line summary of the prompt. */
export function defaultSummary(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const chars = [...flat]; // code points, so a surrogate pair is never split
  return `Summary: ${chars.length > 80 ? `${chars.slice(0, 80).join('')}...` : flat}`;
}

export const isSend = (r: SimRequest): boolean => r.method === 'message/send' || r.method === 'SendMessage';
export const isGetTask = (r: SimRequest): boolean => r.method === 'tasks/get' || r.method === 'GetTask';
export const isCancel = (r: SimRequest): boolean => r.method === 'tasks/cancel' || r.method === 'CancelTask';

/** Answers the n-th matching request (default: sends) with replies[n]; later ones get the default. E.g.
 *  `sequence([{kind:'http', status:503}, {kind:'http', status:503}])` fails twice, then succeeds. */
export function sequence(replies: Reply[], match: (r: SimRequest) => boolean = isSend): Behaviour {
  let n = 0;
  return (r) => (match(r) ? replies[n++] : undefined);
}
