// What became of one record: the pipeline's result per record, read by the logs, the metrics and the CLI.

import type { FateCode, FinalStatus } from './fate';
export type { FinalStatus } from './fate';

export interface RecordOutcome {
  partitionKey: string;
  topic: string | null;
  partition: number | null;
  offset: number | null;
  route: string | null;
  agentId: string | null;
  status: FinalStatus;
  /** Why it ended so: a lambda/fate.ts code (the log field `code`). */
  code?: FateCode;
  message?: string;
  attempts: number;
  retries: number;
  latencyMs?: number;
  reply?: string;
  /** The record's W3C traceparent header, when valid: its log line carries it so a trace crosses the bridge. */
  traceparent?: string;
  /** Where the reply was written (destination and message id or file); absent when none was. */
  replyTo?: string;
  /** A reply (or error announcement) write failed in this invocation. */
  replyWriteFailed?: boolean;
  /** Template placeholders the record had no value for (sent kept or emptied, per the route's on_missing). */
  missingFields?: string[];
  /** Where the dead-lettered record was announced (route `errors`). */
  errorsTo?: string;
  /** The agent's A2A task, when it answered with one. */
  taskId?: string;
}
