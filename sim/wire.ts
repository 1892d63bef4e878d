// A2A wire builders and request validation of the simulator, both versions: Archestra's v0.3 Message without
// `kind`, 1.0's wrapped `{message}` / `{task}` results, TASK_STATE_* states, JSON-RPC errors.
import { randomUUID } from 'node:crypto';
import { HttpReply, isObj } from './http';
import { SETTLED, type SimTask } from './tasks';
import type { ApiVersion, JsonRpcId, TaskStateName } from './types';

export const toV1State = (s: TaskStateName) => `TASK_STATE_${s.toUpperCase().replace(/-/g, '_')}`;

export function rpcError(id: JsonRpcId, code: number, message: string, data?: unknown) {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

export function defaultRpcMessage(code: number): string {
  switch (code) {
    case -32700: return 'Parse error';
    case -32600: return 'Invalid Request';
    case -32601: return 'Method not found';
    case -32602: return 'Invalid params';
    case -32603: return 'Internal error';
    case -32001: return 'Task not found';
    case -32002: return 'Task cannot be canceled';
    case -32009: return 'Unsupported A2A-Version';
    default: return 'Error';
  }
}

export function messageResult(version: ApiVersion, text: string, contextId: string | undefined) {
  const messageId = randomUUID();
  if (version === '0.3') return { messageId, role: 'agent', parts: [{ kind: 'text', text }] }; // Archestra v1: no kind
  return { message: { messageId, contextId: contextId ?? randomUUID(), role: 'ROLE_AGENT', parts: [{ text }] } };
}

export function taskJson(version: ApiVersion, t: SimTask, historyLength?: number) {
  const v03 = version === '0.3';
  const approvals = t.state === 'input-required' && t.approvalRequests !== undefined;
  const msg = (role: 'user' | 'agent', messageId: string, text: string, withApprovals = false) => {
    const data = withApprovals ? [v03 ? { kind: 'data', data: { approvalRequests: t.approvalRequests } } : { data: { approvalRequests: t.approvalRequests } }] : [];
    return v03
      ? { kind: 'message', role, messageId, parts: [{ kind: 'text', text }, ...data], contextId: t.contextId, taskId: t.id }
      : { messageId, contextId: t.contextId, taskId: t.id, role: role === 'user' ? 'ROLE_USER' : 'ROLE_AGENT', parts: [{ text }, ...data] };
  };
  const completed = t.state === 'completed';
  const statusText = completed ? (t.replyIn === 'status' ? t.replyText : '') : SETTLED.has(t.state) ? t.statusText : '';
  const status: Record<string, unknown> = { state: v03 ? t.state : toV1State(t.state), timestamp: new Date(t.stateAt).toISOString() };
  if (statusText) status.message = msg('agent', t.agentMessageId, statusText, approvals);
  let history = [msg('user', t.userMessageId, t.userText)];
  if (completed && t.replyIn === 'history') history.push(msg('agent', t.agentMessageId, t.replyText));
  if (historyLength !== undefined) history = historyLength === 0 ? [] : history.slice(-historyLength);
  const body: Record<string, unknown> = v03
    ? { kind: 'task', id: t.id, contextId: t.contextId, status }
    : { id: t.id, contextId: t.contextId, status };
  if (history.length) body.history = history;
  if (approvals) body.metadata = { approvalRequests: t.approvalRequests };
  if (completed && t.replyIn === 'artifact') {
    body.artifacts = [
      { artifactId: t.artifactId, name: 'reply', parts: [v03 ? { kind: 'text', text: t.replyText } : { text: t.replyText }] },
    ];
  }
  return body;
}

const invalidParams = (id: JsonRpcId, m: string) => new HttpReply(200, rpcError(id, -32602, `Invalid params: ${m}`));

export interface ParsedSend {
  text: string;
  messageId: string;
  contextId?: string;
  returnImmediately?: boolean;
}

export function parseSend(version: ApiVersion, id: JsonRpcId, params: unknown): ParsedSend {
  const invalid = (m: string) => invalidParams(id, m);
  if (!isObj(params) || !isObj(params.message)) throw invalid('params.message must be an object');
  const m = params.message;
  const roles = version === '0.3' ? ['user', 'agent'] : ['ROLE_USER', 'ROLE_AGENT'];
  if (typeof m.role !== 'string' || !roles.includes(m.role)) throw invalid(`params.message.role must be one of ${roles.join(', ')}`);
  if (typeof m.messageId !== 'string' || m.messageId === '') throw invalid('params.message.messageId must be a non-empty string');
  if (!Array.isArray(m.parts)) throw invalid('params.message.parts must be an array');
  if (m.contextId !== undefined && typeof m.contextId !== 'string') throw invalid('params.message.contextId must be a string');
  const conf = params.configuration;
  if (conf !== undefined && !isObj(conf)) throw invalid('params.configuration must be an object');
  const ri = isObj(conf) ? conf.returnImmediately : undefined;
  if (ri !== undefined && typeof ri !== 'boolean') throw invalid('params.configuration.returnImmediately must be a boolean');
  const texts = m.parts
    .filter((p): p is Record<string, unknown> => isObj(p) && typeof p.text === 'string' && (version === '1.0' || p.kind === 'text'))
    .map((p) => p.text as string);
  const text = texts.join('\n');
  if (!text) throw new HttpReply(200, rpcError(id, -32602, 'No message content provided'));
  return { text, messageId: m.messageId, contextId: m.contextId as string | undefined, ...(version === '1.0' && ri === true && { returnImmediately: true }) };
}

export function parseGet(id: JsonRpcId, params: unknown): { taskId: string; historyLength?: number } {
  if (!isObj(params) || typeof params.id !== 'string' || params.id === '') throw invalidParams(id, 'params.id must be a non-empty string');
  const h = params.historyLength;
  if (h !== undefined && (typeof h !== 'number' || !Number.isInteger(h) || h < 0)) throw invalidParams(id, 'params.historyLength must be a non-negative integer');
  return { taskId: params.id, historyLength: h as number | undefined };
}

export function parseCancel(id: JsonRpcId, params: unknown): { taskId: string } {
  if (!isObj(params) || typeof params.id !== 'string' || params.id === '') throw invalidParams(id, 'params.id must be a non-empty string');
  return { taskId: params.id };
}
