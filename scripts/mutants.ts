// The planted bugs of `npm run mutate` (scripts/mutate.ts): small, plausible mistakes in lambda/, each an exact
// text replacement that must match its file exactly once (a stale entry fails the run instead of testing
// nothing). `tests` are the deterministic test files that exercise the module; the seeded no-loss property is
// deliberately not among them: every bug must be caught without it.

/** Markers of the section `npm run mutate` writes in docs/RELIABILITY.md (`npm run reliability` keeps it). */
export const BEGIN = '<!-- mutate:begin -->';
export const END = '<!-- mutate:end -->';

export interface Mutant {
  id: string;
  file: string;
  find: string;
  replace: string;
  /** What the bug would do in production. */
  why: string;
  tests: string[];
  /** For a mutant known to survive: why (an equivalent change, or a gap accepted for a stated reason). */
  survives?: string;
}

const t = (...names: string[]) => names.map((n) => `test/${n}.test.ts`);

// The deterministic tests that exercise each module (unit first: they fail fastest).
const T = {
  report: t('unit/report', 'integration/pipeline', 'integration/archestra'),
  decode: t('unit/decode', 'reliability/hostile-input'),
  route: t('unit/route', 'integration/schema-records', 'integration/archestra'),
  render: t('unit/render', 'integration/pipeline'),
  schedule: t('unit/schedule', 'integration/archestra', 'reliability/hold'),
  settings: t('unit/settings', 'integration/handler'),
  a2a: t('unit/a2a-protocol', 'integration/archestra', 'integration/sdk-agents'),
  client: t('unit/agent-client', 'integration/archestra', 'reliability/hold', 'reliability/deadline', 'reliability/real-failures'),
  gate: t('unit/credential-gate', 'unit/agent-client', 'reliability/real-failures'),
  partitions: t('unit/partition-state', 'integration/aws', 'reliability/hold', 'reliability/aws-faults'),
  pipeline: t('unit/pipeline', 'unit/record-state', 'integration/pipeline', 'integration/archestra', 'integration/idempotency', 'reliability/hold', 'integration/aws', 'reliability/aws-faults', 'reliability/deadline', 'reliability/real-failures'),
  sqs: t('integration/aws', 'reliability/aws-faults', 'reliability/real-failures'),
  dynamo: t('integration/idempotency', 'reliability/real-failures'),
  token: t('integration/aws', 'reliability/aws-faults', 'reliability/security', 'reliability/real-failures'),
  framing: t('unit/schema-codecs', 'integration/schema-records'),
  http: t('integration/http', 'integration/archestra'),
};

export const MUTANTS: Mutant[] = [
  // ---- report ----------------------------------------------------------------------------------------------
  { id: 'report-highest-offset', file: 'lambda/report.ts', find: 'if (cur === undefined || f.offset < cur)', replace: 'if (cur === undefined || f.offset > cur)', why: 'a partition reported at its highest failed offset: Lambda skips the failures below it', tests: T.report },
  { id: 'report-first-failure-wins', file: 'lambda/report.ts', find: 'if (cur === undefined || f.offset < cur)', replace: 'if (cur === undefined)', why: 'the first failure seen, not the lowest, is reported', tests: T.report },

  // ---- decode ----------------------------------------------------------------------------------------------
  { id: 'decode-offset-zero-invalid', file: 'lambda/decode.ts', find: 'Number.isSafeInteger(n) && n >= 0 ? n : null', replace: 'Number.isSafeInteger(n) && n > 0 ? n : null', why: 'offset 0 (and partition 0) rejected: the first record of a topic is poison', tests: T.decode },
  { id: 'decode-lenient-utf8', file: 'lambda/decode.ts', find: 'value = strictUtf8.decode(valueBytes);', replace: 'value = lenientUtf8.decode(valueBytes);', why: 'binary values pass as text full of U+FFFD instead of being dead-lettered intact', tests: T.decode },
  { id: 'decode-base64-length-unchecked', file: 'lambda/decode.ts', find: 'if (n % 4 !== 0 || bytes.length !== (n / 4) * 3 - pad)', replace: 'if (n % 4 !== 0)', why: 'invalid base64 silently decoded to garbage', tests: T.decode },
  { id: 'decode-depth-unchecked', file: 'lambda/decode.ts', find: "return parsed !== null && typeof parsed === 'object' && tooDeep(text) ? undefined : parsed;", replace: 'return parsed;', why: 'deeply nested JSON reaches JSON.stringify and overflows the stack', tests: T.decode },

  // ---- route -----------------------------------------------------------------------------------------------
  // biome-ignore lint/suspicious/noTemplateCurlyInString: find/replace are TypeScript source, template literals included
  { id: 'route-glob-unanchored', file: 'lambda/route.ts', find: 'const re = new RegExp(`^${source}$`, \'s\');', replace: "const re = new RegExp(source, 's');", why: 'orders.* also matches xorders.events.dlq', tests: T.route },
  { id: 'route-field-loose-equality', file: 'lambda/route.ts', find: 'values.some((want) => want === v)', replace: 'values.some((want) => want == v)', why: 'field_match 3 matches "3"', tests: T.route },
  { id: 'route-last-match-wins', file: 'lambda/route.ts', find: 'for (const c of candidates) {', replace: 'for (const c of [...candidates].reverse()) {', why: 'the last matching route wins instead of the first', tests: T.route },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: find/replace are TypeScript source, template literals included
  { id: 'route-schema-error-falls-through', file: 'lambda/route.ts', find: "if (!res.ok) return { unreadable: { code: 'schema_error', reason: `route \"${c.route.name}\": ${res.reason}` } };", replace: 'if (!res.ok) continue;', why: 'a value its owning route cannot deserialize falls through to a later route (or to unrouted, skipped) instead of being dead-lettered as schema_error', tests: T.route },

  // ---- render ----------------------------------------------------------------------------------------------
  { id: 'render-timestamp-iso-unguarded', file: 'lambda/render.ts', find: 'return d && !Number.isNaN(d.getTime()) ? d.toISOString() : undefined;', replace: 'return d ? d.toISOString() : undefined;', why: 'an out-of-range timestamp makes the record a render failure', tests: T.render },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: find/replace are TypeScript source, template literals included
  { id: 'render-on-missing-keep-drops', file: 'lambda/render.ts', find: "if (route.onMissing === 'keep') text += `{${part.placeholder}}`;", replace: '', why: 'on_missing keep behaves like empty', tests: T.render },
  { id: 'render-truncate-splits-characters', file: 'lambda/render.ts', find: 'while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;', replace: '', why: 'truncation cuts a multi-byte character in half', tests: T.render },
  { id: 'render-oversize-off-by-one', file: 'lambda/render.ts', find: 'if (bytes <= maxTextBytes) return res;', replace: 'if (bytes < maxTextBytes) return res;', why: 'a prompt of exactly MAX_TEXT_BYTES is refused', tests: T.render },

  // ---- schedule --------------------------------------------------------------------------------------------
  { id: 'schedule-keyless-share-a-chain', file: 'lambda/schedule.ts', find: "if (mode === 'key' && r.keyB64 !== null)", replace: "if (mode === 'key')", why: 'records without a key serialised in one chain', tests: T.schedule },
  { id: 'schedule-chains-unsorted', file: 'lambda/schedule.ts', find: 'for (const c of out) c.sort((a, b) => a.at.offset - b.at.offset);', replace: '', why: 'a chain follows the event order, not offset order', tests: T.schedule },
  { id: 'schedule-shortest-chain-first', file: 'lambda/schedule.ts', find: 'return a.priority > b.priority ||', replace: 'return a.priority < b.priority ||', why: 'the slot goes to the shortest remaining chain (the batch takes longer)', tests: T.schedule },

  // ---- settings --------------------------------------------------------------------------------------------
  { id: 'settings-insecure-http-allowed', file: 'lambda/config/settings.ts', find: "if (u.protocol === 'http:' && !allowInsecure && !LOOPBACK.test(u.hostname))", replace: "if (u.protocol === 'http:' && allowInsecure && !LOOPBACK.test(u.hostname))", why: 'the token may travel over plain http to any host', tests: T.settings },
  { id: 'settings-retry-delay-in-ms', file: 'lambda/config/settings.ts', find: 'retryDelayMs: e.RETRY_DELAY * 1000,', replace: 'retryDelayMs: e.RETRY_DELAY,', why: 'RETRY_DELAY read as milliseconds: retries hammer the agent', tests: T.settings },
  { id: 'settings-two-token-sources', file: 'lambda/config/settings.ts', find: 'if (e.ARCHESTRA_TOKEN && e.ARCHESTRA_TOKEN_SECRET_ARN) {', replace: 'if (e.ARCHESTRA_TOKEN && e.ARCHESTRA_TOKEN_SECRET_ARN && false) {', why: 'both token sources accepted silently', tests: T.settings },

  // ---- a2a-protocol ----------------------------------------------------------------------------------------
  { id: 'a2a-429-permanent', file: 'lambda/deliver/a2a-protocol.ts', find: 'if (status === 429 || status === 408 || status >= 500) {', replace: 'if (status === 408 || status >= 500) {', why: 'rate limiting dead-letters records', tests: T.a2a },
  { id: 'a2a-not-retryable-is-transient', file: 'lambda/deliver/a2a-protocol.ts', find: "if (retryable === false) return failure('permanent', label, detail);", replace: "if (retryable === false) return failure('transient', label, detail);", why: 'an LLM error marked not retryable is redelivered forever', tests: T.a2a },
  { id: 'a2a-any-reply-id', file: 'lambda/deliver/a2a-protocol.ts', find: 'if (rpc.id !== expectedId) {', replace: 'if (rpc.id === undefined) {', why: "another request's answer accepted as this record's", tests: T.a2a },
  { id: 'a2a-retry-after-seconds-as-ms', file: 'lambda/deliver/a2a-protocol.ts', find: 'return Math.round(Number(trimmed) * 1000);', replace: 'return Math.round(Number(trimmed));', why: 'Retry-After: 2 waits 2 ms', tests: T.a2a },

  // ---- agent-client ----------------------------------------------------------------------------------------
  { id: 'client-task-timeout-permanent', file: 'lambda/deliver/task-polling.ts', find: "return result(byDeadline ? 'deadline' : 'transient', {", replace: "return result(byDeadline ? 'deadline' : 'permanent', {", why: 'a slow task is dead-lettered instead of redelivered', tests: [...T.client, 'test/integration/aws.test.ts'] },
  { id: 'client-retry-after-ignored', file: 'lambda/deliver/backoff.ts', find: 'if (retryAfterMs !== undefined) return retryAfterMs;', replace: '', why: "the agent's Retry-After is ignored", tests: T.client },
  { id: 'client-one-retry-too-many', file: 'lambda/deliver/agent-client.ts', find: "if (t.retries >= this.o.maxRetries) return result('transient',", replace: "if (t.retries > this.o.maxRetries) return result('transient',", why: 'MAX_RETRIES + 1 retries', tests: T.client },
  { id: 'client-auth-no-refresh', file: 'lambda/deliver/agent-client.ts', find: 'return this.o.tokens.get({ fresherThan: Math.max(at, invocationStart ?? this.now() - REREAD_REFUSED_MS), signal });', replace: 'return this.o.tokens.get({ signal });', why: 'a refused token is retried from the cache, never re-read', tests: T.client },
  { id: 'client-timeout-past-deadline', file: 'lambda/deliver/exchange.ts', find: 'const timeoutMs = Math.min(target.timeoutMs, left);', replace: 'const timeoutMs = target.timeoutMs;', why: 'a request may run past the invocation deadline', tests: T.client },
  { id: 'client-poll-failures-never-reset', file: 'lambda/deliver/task-polling.ts', find: 'failures = 0;\n      continue;', replace: 'continue;', why: 'scattered poll failures add up and give up on a live task', tests: T.client },
  { id: 'client-guard-ignored-in-slot', file: 'lambda/deliver/agent-client.ts', find: 'if (!guard.mayStart()) return HELD;', replace: '', why: 'a queued send goes out after its partition failed below it', tests: T.client },
  { id: 'client-no-redaction', file: 'lambda/deliver/exchange.ts', find: "const clean = (t: string) => (t.includes(token) ? t.split(token).join('[redacted]') : t);", replace: 'const clean = (t: string) => t;', why: 'an agent echoing the Authorization header puts the token in logs and the DLQ', tests: [...T.client, 'test/reliability/security.test.ts'] },

  // ---- credential-gate -------------------------------------------------------------------------------------
  { id: 'gate-cooldown-in-seconds', file: 'lambda/deliver/credential-gate.ts', find: 'if (this.now() - r.at >= this.o.coolDownMs) return undefined;', replace: 'if (this.now() - r.at >= this.o.coolDownMs / 1000) return undefined;', why: 'the cool-down read as seconds: a refused value is sent again after 60 ms instead of 60 s, toward the lockout', tests: T.gate },
  { id: 'gate-no-trial', file: 'lambda/deliver/credential-gate.ts', find: 'this.trial = trial;', replace: '', why: 'the trial is never recorded: a value never accepted goes out in as many requests as there are slots at once', tests: T.gate },
  { id: 'gate-acceptance-never-expires', file: 'lambda/deliver/credential-gate.ts', find: 'return a !== undefined && a.value === value && this.now() - a.at < this.o.coolDownMs;', replace: 'return a !== undefined && a.value === value;', why: 'an acceptance is trusted forever: a token revoked while the container was idle is refused by every concurrent request, not by one', tests: T.gate },

  // ---- partition-state -------------------------------------------------------------------------------------
  { id: 'partitions-highest-failure', file: 'lambda/partition-state.ts', find: 'if (offset < (this.lowest.get(partitionKey) ?? Infinity))', replace: 'if (offset > (this.lowest.get(partitionKey) ?? -Infinity))', why: 'the partition hold starts at the highest failure', tests: T.partitions },
  { id: 'partitions-below-inclusive', file: 'lambda/partition-state.ts', find: 'return at !== undefined && at < offset ? at : undefined;', replace: 'return at !== undefined && at <= offset ? at : undefined;', why: 'the failed record counts as above its own failure', tests: T.partitions },
  { id: 'partitions-settle-wakes-late', file: 'lambda/partition-state.ts', find: 'if (w.offset <= low) w.wake();', replace: 'if (w.offset < low) w.wake();', why: 'a dead letter waits for its own record to settle: its chain never finishes', tests: T.partitions },
  { id: 'partitions-sort-as-text', file: 'lambda/partition-state.ts', find: 'part.offsets.sort((a, b) => a - b);', replace: 'part.offsets.sort();', why: 'offsets ordered as text: 10 before 9', tests: T.partitions },

  // ---- pipeline --------------------------------------------------------------------------------------------
  { id: 'record-state-any-move', file: 'lambda/pipeline/record-state.ts', find: 'if (!mayMove(track.state.stage, next.stage)) throw new IllegalTransitionError(track.state.stage, next.stage);', replace: '', why: 'a settled record moved again (a dead-lettered record reported, a delivered one sent again) without notice', tests: t('unit/record-state') },
  { id: 'pipeline-offsetless-highest', file: 'lambda/pipeline/letters.ts', find: 'offset: Math.min(...known)', replace: 'offset: Math.max(...known)', why: 'an offset-less poison record reported at the highest offset', tests: T.pipeline },
  { id: 'pipeline-presend-hold-same-chain-only', file: 'lambda/pipeline/chain.ts', find: 'else if (stopped || (run.hold && failedAt !== undefined)) {', replace: 'else if (stopped) {', why: 'the pre-send hold only within a chain', tests: T.pipeline },
  { id: 'pipeline-tombstone-always-skipped', file: 'lambda/pipeline/prepare.ts', find: 'if (record.value === null && route.template === undefined) return', replace: 'if (record.value === null) return', why: 'a tombstone is skipped even when its route has a template for it', tests: T.pipeline },
  { id: 'pipeline-letter-before-settled', file: 'lambda/pipeline/letter-step.ts', find: 'if (!turn.stopped) await run.settlement.below(at.partitionKey, at.offset);', replace: '', why: 'a letter written before the records below it settle', tests: T.pipeline },
  { id: 'pipeline-failed-letter-does-not-stop', file: 'lambda/pipeline/letter-step.ts', find: "if (move(track, afterLetter(s, ok)).stage === 'failed') return turn.stop();", replace: 'move(track, afterLetter(s, ok));', why: 'the chain goes on after its dead-letter write failed', tests: T.pipeline },
  { id: 'pipeline-permanent-reported', file: 'lambda/pipeline/record-state.ts', find: "if (status === 'permanent') return 'dead_letter';", replace: "if (status === 'permanent') return 'failed';", why: 'agent refusals redelivered forever instead of dead-lettered', tests: T.pipeline },
  { id: 'pipeline-store-down-sends', file: 'lambda/pipeline/send.ts', find: "claim = 'in_progress';", replace: "claim = 'claimed';", why: 'an idempotency store outage sends without a claim', tests: T.pipeline },
  { id: 'pipeline-claim-not-released', file: 'lambda/claim-settle.ts', find: 'await store.release(key, signal);', replace: 'void 0;', why: 'a failed record stays claimed until the deadline: redelivery reports it again', tests: T.pipeline },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: find/replace are TypeScript source, template literals included
  { id: 'pipeline-offsetless-failure-ignored', file: 'lambda/pipeline/chain.ts', find: 'run.resumesWhole.has(at.partitionKey)', replace: 'run.resumesWhole.has(`${at.partitionKey}?`)', why: 'records of a partition that comes back whole are sent or dead-lettered now (twice in all)', tests: T.pipeline },
  { id: 'pipeline-claims-unbounded', file: 'lambda/pipeline/deliver-all.ts', find: 'storeSlots: new PrioritySlots(deps.maxConcurrency),', replace: 'storeSlots: new PrioritySlots(Math.max(1, tracks.length)),', why: 'idempotency claims without a limit: with ORDERING=none a batch of 200 throws 200 PutItems at DynamoDB at once (throttled, then reported)', tests: T.pipeline },
  { id: 'pipeline-claim-without-time', file: 'lambda/pipeline/send.ts', find: "run.deadline - now() < (deps.minRequestMs ?? 0) || signals.deadline.aborted ? 'no_time' : store.claim(", replace: "signals.deadline.aborted ? 'no_time' : store.claim(", why: 'a claim taken with no time left to send: the record is not sent and its redelivery is blocked until the claim lapses', tests: T.pipeline },
  { id: 'pipeline-claim-unbounded-by-deadline', file: 'lambda/pipeline/send.ts', find: 'store.claim(key, run.deadline + deps.safetyMarginMs, signals.deadline)', replace: 'store.claim(key, run.deadline + deps.safetyMarginMs)', why: "a DynamoDB endpoint that never answers holds the invocation past Lambda's timeout (the whole batch comes back)", tests: T.pipeline },

  // ---- io/sqs-dead-letters ---------------------------------------------------------------------------------
  { id: 'sqs-eleven-per-batch', file: 'lambda/io/sqs-dead-letters.ts', find: 'if (group.length === 10 ||', replace: 'if (group.length === 11 ||', why: 'SendMessageBatch with 11 entries is refused whole', tests: T.sqs },
  { id: 'sqs-later-letters-not-failed', file: 'lambda/io/sqs-dead-letters.ts', find: 'for (const later of queues.get(letter.partitionKey) ?? []) failed.add(later.id);', replace: '', why: 'letters after a failed one are neither written nor reported (lost)', tests: T.sqs },
  { id: 'sqs-failed-call-counted-written', file: 'lambda/io/sqs-dead-letters.ts', find: "// The whole call failed (network, auth, throttling past the SDK's retries, the deadline).\n          return group.map((m) => ({ m, retry: false }));", replace: '// swallowed\n          return [];', why: 'a failed SendMessageBatch call counts as written: records lost', tests: T.sqs },

  // ---- io/dynamo-idempotency -------------------------------------------------------------------------------
  { id: 'dynamo-in-progress-read-as-completed', file: 'lambda/io/dynamo-idempotency.ts', find: "return status === 'COMPLETED' ? 'completed' : 'in_progress';", replace: "return status === 'COMPLETED' || status === 'IN_PROGRESS' ? 'completed' : 'in_progress';", why: 'a record in progress elsewhere is skipped as a duplicate (lost if that invocation fails)', tests: T.dynamo },
  { id: 'dynamo-claim-expiry-reversed', file: 'lambda/io/dynamo-idempotency.ts', find: "ConditionExpression: 'attribute_not_exists(id) OR expiresAt < :now',", replace: "ConditionExpression: 'attribute_not_exists(id) OR expiresAt > :now',", why: 'the expiry test reversed: live claims of other invocations are taken over, expired ones block their record for hours', tests: T.dynamo },
  { id: 'dynamo-completed-without-ttl', file: 'lambda/io/dynamo-idempotency.ts', find: "await move(key, 'complete', { ':exp': ttlEnd(),", replace: "await move(key, 'complete', { ':exp': N(epoch(now())),", why: 'a delivered mark expires at once: redelivery sends again', tests: T.dynamo },

  // ---- io/token --------------------------------------------------------------------------------------------
  { id: 'token-refresh-served-from-cache', file: 'lambda/io/token.ts', find: 'if (cached && !mustRead && (now() - cached.at < o.ttlMs', replace: 'if (cached && (now() - cached.at < o.ttlMs', why: 'a rotated token is not picked up after a refusal', tests: T.token },
  { id: 'token-empty-json-token-accepted', file: 'lambda/io/token.ts', find: "if (typeof t !== 'string' || t.trim() === '') throw", replace: "if (typeof t !== 'string') throw", why: '{"token": ""} sends an empty bearer token', tests: T.token },

  // ---- io/http ---------------------------------------------------------------------------------------------
  { id: 'http-truncated-body-accepted', file: 'lambda/io/http.ts', find: "if (!res.complete) return fail(new HttpError('network', 'connection closed before the reply was complete'));", replace: '', why: 'a cut connection is read as a (malformed, permanent) reply', tests: T.http, survives: "Equivalent on the Node 20 this runs on: a body cut short of its Content-Length or of its last chunk, by a reset or an orderly close, makes node:http emit 'aborted' / 'error' (both handled as a network error) and never 'end', so this check in the 'end' handler is never reached; http.test.ts pins all three closes. Kept as defence in depth." },
  { id: 'http-redirect-followed-as-reply', file: 'lambda/io/http.ts', find: 'if (status >= 300 && status < 400) {', replace: 'if (status >= 300 && status < 300) {', why: 'a redirect answer is classified as a permanent refusal instead of a network fault', tests: T.http },

  // ---- schema/framing --------------------------------------------------------------------------------------
  { id: 'framing-confluent-id-offset', file: 'lambda/schema/framing.ts', find: 'const schemaId = String(buf.readUInt32BE(1));', replace: 'const schemaId = String(buf.readUInt32BE(0));', why: "the Confluent schema id read from byte 0 (the magic byte) on: id 9 becomes 0, the record is read with the wrong writer schema or dead-lettered", tests: T.framing },
  { id: 'framing-glue-version-unchecked', file: 'lambda/schema/framing.ts', find: 'if (first !== GLUE_HEADER_VERSION) throw new SchemaError(', replace: 'if (false) throw new SchemaError(', why: 'framing glue takes any first byte as a Glue header: a Confluent or unframed value is read as a Glue frame and misdecoded instead of named', tests: T.framing },
];
