// What a reply edge does: write one serialized envelope to one destination before the signal aborts.
// The edges live in lambda/io (one per kind of destination); this module only dispatches to them.
import type { Destination } from './destination';
import type { ReplyEdge, ReplyEdges } from '../ports';
export type { ReplyEdge, ReplyEdges, ReplyMessage } from '../ports';

export function edgeFor(edges: ReplyEdges, dest: Destination): ReplyEdge {
  const e = edges[dest.kind];
  if (!e) throw new Error(`no ${dest.kind} reply writer configured`);
  return e;
}
