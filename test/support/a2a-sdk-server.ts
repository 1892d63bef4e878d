// A real A2A agent built on the official @a2a-js/sdk 1.3.0 server (express transport), so the bridge is tested
// against the reference implementation and not only against our own Archestra simulator.
//
// Two wire modes, same JSON-RPC endpoint path (`<base>/a2a/jsonrpc`):
//  - 'v0.3': `jsonRpcHandler({ legacyCompat: { enabled: true } })` and an agent card that declares a JSONRPC
//    interface with protocolVersion '0.3' (the SDK refuses a version the card does not declare). A request
//    without `A2A-Version` (or with `0.3`) goes through the SDK's v0.3 translator: `message/send`, `tasks/get`,
//    `kind` discriminators, lower-case roles and states. `A2A-Version: 1.0` requests are still served as 1.0.
//  - '1.0':  `jsonRpcHandler` without legacyCompat and a card declaring only '1.0': `SendMessage` / `GetTask`;
//    a request without `A2A-Version: 1.0` is refused (-32009 VersionNotSupportedError, HTTP 200).
//
// Two executors:
//  - 'echo': answers with a Message whose text is `Echo: <user text>`.
//  - 'task': publishes a Task (submitted, then working), waits `taskDelayMs`, then adds an artifact with the
//    reply and completes. A blocking send therefore returns the completed Task after the delay; a
//    non-blocking send (v0.3 `configuration.blocking: false`, 1.0 `configuration.returnImmediately: true`, or
//    the `returnImmediately` option below) returns the submitted/working Task at once, to be polled.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import express from 'express';
import { AgentCard, Artifact, Message, Task, TaskState, TaskStatus } from '@a2a-js/sdk';
import {
  AgentEvent,
  DefaultRequestHandler,
  InMemoryTaskStore,
  type AgentExecutor,
  type ExecutionEventBus,
  type RequestContext,
  type ServerCallContext,
} from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express';

export type SdkServerMode = 'v0.3' | '1.0';
export type SdkExecutorName = 'echo' | 'task';

export interface SdkServerOptions {
  /** Wire mode (see the file header). Default 'v0.3'. */
  mode?: SdkServerMode;
  /** Which executor answers. Default 'echo'. */
  executor?: SdkExecutorName;
  /** 'task' executor: delay between the working state and completion. Default 200 ms. */
  taskDelayMs?: number;
  /** Force every send to be non-blocking, whatever the client asked: the 'task' executor then always answers
   *  with a submitted/working Task that the client must poll with tasks/get / GetTask. Default false. */
  returnImmediately?: boolean;
  /** Reply text for a given user text. Default: echo -> `Echo: <text>`, task -> `Done: <text>`. */
  reply?: (text: string) => string;
}

export interface SdkRecordedRequest {
  receivedAt: number;
  method: string;
  path: string;
  /** Lower-cased header names, as node delivers them. */
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (undefined when the body was not JSON). */
  body: unknown;
}

export interface SdkServer {
  /** The JSON-RPC endpoint URL (POST JSON-RPC here). */
  url: string;
  /** Server origin, e.g. http://127.0.0.1:PORT (agent card at `${baseUrl}/.well-known/agent-card.json`). */
  baseUrl: string;
  mode: SdkServerMode;
  requests: SdkRecordedRequest[];
  close(): Promise<void>;
}

export const SDK_JSONRPC_PATH = '/a2a/jsonrpc';

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

function userText(ctx: RequestContext): string {
  return ctx.userMessage.parts
    .map((p) => (p.content?.$case === 'text' ? p.content.value : ''))
    .filter(Boolean)
    .join('\n');
}

// Objects are built from their JSON wire form with the SDK's own codecs (`fromJSON`), which fill every
// protobuf default, so they are exactly what the SDK itself would produce.
function agentMessage(ctx: RequestContext, text: string): Message {
  return Message.fromJSON({
    messageId: crypto.randomUUID(),
    role: 'ROLE_AGENT',
    parts: [{ text, mediaType: 'text/plain' }],
    contextId: ctx.contextId,
    taskId: ctx.task ? ctx.taskId : undefined,
  });
}

function status(state: TaskState): TaskStatus {
  return TaskStatus.fromJSON({ state, timestamp: new Date().toISOString() });
}

class EchoExecutor implements AgentExecutor {
  constructor(private readonly reply: (text: string) => string) {}

  async execute(ctx: RequestContext, bus: ExecutionEventBus): Promise<void> {
    bus.publish(AgentEvent.message(agentMessage(ctx, this.reply(userText(ctx)))));
    bus.finished();
  }

  async cancelTask(): Promise<void> {}
}

class DelayedTaskExecutor implements AgentExecutor {
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly reply: (text: string) => string,
    private readonly delayMs: number,
    private readonly shutdown: AbortSignal,
  ) {}

  async execute(ctx: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId } = ctx;
    const abort = new AbortController();
    this.running.set(taskId, abort);
    const stop = AbortSignal.any([abort.signal, this.shutdown]);
    try {
      // The first event of a call must be the Task itself (SDK rule), carrying the user message as history.
      bus.publish(
        AgentEvent.task(
          Task.fromJSON({ id: taskId, contextId, status: { state: 'TASK_STATE_SUBMITTED' }, history: [] }),
        ),
      );
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_WORKING), metadata: undefined }));
      await sleep(this.delayMs, stop);
      if (stop.aborted) {
        bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_CANCELED), metadata: undefined }));
        return;
      }
      const artifact = Artifact.fromJSON({
        artifactId: `reply-${taskId}`,
        name: 'reply',
        parts: [{ text: this.reply(userText(ctx)), mediaType: 'text/plain' }],
      });
      bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact, append: false, lastChunk: true, metadata: undefined }));
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_COMPLETED), metadata: undefined }));
    } finally {
      this.running.delete(taskId);
      bus.finished();
    }
  }

  async cancelTask(taskId: string): Promise<void> {
    this.running.get(taskId)?.abort();
  }
}

/** Forces non-blocking sends: the SDK only returns a non-terminal Task to a non-blocking caller. */
class ReturnImmediatelyHandler extends DefaultRequestHandler {
  override sendMessage(params: Parameters<DefaultRequestHandler['sendMessage']>[0], context: ServerCallContext) {
    const configuration = params.configuration ?? { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately: true };
    return super.sendMessage({ ...params, configuration: { ...configuration, returnImmediately: true } }, context);
  }
}

/** Starts the SDK agent on 127.0.0.1 with an ephemeral port. */
export async function startSdkA2AServer(opts: SdkServerOptions = {}): Promise<SdkServer> {
  const mode = opts.mode ?? 'v0.3';
  const executorName = opts.executor ?? 'echo';
  const shutdown = new AbortController();
  const requests: SdkRecordedRequest[] = [];
  const app = express();

  // Listen first: the card must carry the real URL, and the port is only known once bound.
  const sockets = new Set<Socket>();
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const url = `${baseUrl}${SDK_JSONRPC_PATH}`;

  const card = AgentCard.fromJSON({
    name: `sdk-${executorName}-${mode}`,
    description: `@a2a-js/sdk reference agent (${executorName}, ${mode})`,
    version: '1.0.0',
    supportedInterfaces: [
      { url, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
      // The SDK checks the requested version against the card: declaring '0.3' is what admits v0.3 clients.
      ...(mode === 'v0.3' ? [{ url, protocolBinding: 'JSONRPC', protocolVersion: '0.3' }] : []),
    ],
    capabilities: { streaming: false, pushNotifications: false },
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: [{ id: executorName, name: executorName, description: `${executorName} skill`, tags: [executorName] }],
  });

  const reply = opts.reply ?? ((t: string) => (executorName === 'echo' ? `Echo: ${t}` : `Done: ${t}`));
  const executor: AgentExecutor =
    executorName === 'echo' ? new EchoExecutor(reply) : new DelayedTaskExecutor(reply, opts.taskDelayMs ?? 200, shutdown.signal);
  const Handler = opts.returnImmediately ? ReturnImmediatelyHandler : DefaultRequestHandler;
  const requestHandler = new Handler(card, new InMemoryTaskStore(), executor);
  const legacyCompat = { enabled: mode === 'v0.3' };

  // Record before the SDK sees the request. express.json() marks the body parsed, so the SDK's own parser
  // (inside jsonRpcHandler) skips it and both see the same object.
  app.use(express.json({ limit: '10mb' }), (req, _res, next) => {
    requests.push({
      receivedAt: Date.now(),
      method: req.method,
      path: req.originalUrl,
      headers: { ...req.headers },
      body: req.body && Object.keys(req.body as object).length ? req.body : undefined,
    });
    next();
  });
  app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: requestHandler, legacyCompat }));
  app.use(SDK_JSONRPC_PATH, jsonRpcHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication, legacyCompat }));

  let closing: Promise<void> | undefined;
  return {
    url,
    baseUrl,
    mode,
    requests,
    close() {
      closing ??= new Promise<void>((resolve) => {
        shutdown.abort(); // wakes delayed executors so no timer outlives the server
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
