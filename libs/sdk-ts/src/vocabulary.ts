/**
 * The swarm vocabulary (CONTRACT §2) as methods — the Python SDK's `vocabulary.Emitter`, the same
 * event types and payload fields (snake_case on the wire; camelCase method names here):
 *
 *     const coord = tracer.forAgent("coord-1");
 *     const coder = coord.agentSpawn("cod-1", "coder", { capabilities: ["ts"] });
 *     coord.taskCreate("T2", "implement the limiter", { dependencies: ["T1"] });
 *     coord.taskAssign("T2", "cod-1");
 *     await coder.task("T2", async () => {
 *       await coder.toolCall("Bash", { command: "npm test" }, (call) => call.set({ exit_code: 0 }));
 *       coder.memoryWrite("code/limiter.ts", source, { namespace: "swarm", version: 1 });
 *     });
 *
 * test/vocabulary.test.ts validates every factory's output against trace-event.schema.json.
 */
import { EmitterBase, Span, describeError, type EventData, type SpanOptions } from "./emitter.js";
import { SESSION } from "./core.js";

type Extra = Readonly<Record<string, unknown>>;

/** The given fields without the ones left undefined (or null), like the Python SDK's `_fields`. */
function fields(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== null) out[key] = value;
  return out;
}

/** The span id of a task attempt (`sp_<task>_a<attempt>`), shared by its lifecycle events. */
export function taskSpanId(taskId: string, attempt: number): string {
  return `sp_${taskId}_a${attempt}`;
}

/** A task's attempt: task_start, task_progress, then task_complete or task_fail (phase error). */
export class TaskSpan extends Span {
  willRetry: boolean | undefined;

  constructor(
    emitter: EmitterBase,
    readonly taskId: string,
    readonly attempt: number,
    data: EventData,
    options: SpanOptions,
  ) {
    super(emitter, "task_start", { task_id: taskId, attempt, ...data }, {
      spanId: taskSpanId(taskId, attempt),
      correlationId: taskId,
      completeType: "task_complete",
      errorType: "task_fail",
      progressType: "task_progress",
      ...options,
    });
  }

  /** States whether a failure of this attempt will be retried (`will_retry` in task_fail). */
  retry(willRetry = true): this {
    this.willRetry = willRetry;
    return this;
  }

  protected override progressBase(): Record<string, unknown> {
    return { task_id: this.taskId, attempt: this.attempt };
  }

  protected override completeData(): Record<string, unknown> {
    return { task_id: this.taskId, attempt: this.attempt, ...this.result };
  }

  protected override errorData(failure: unknown): Record<string, unknown> {
    const data: Record<string, unknown> = { task_id: this.taskId, attempt: this.attempt };
    if (typeof failure === "string") {
      data["error"] = failure;
    } else {
      const described = describeError(failure);
      data["error"] = described.message;
      data["error_type"] = described.type;
      if (described.stack !== undefined) data["stack"] = described.stack;
    }
    if (this.willRetry !== undefined) data["will_retry"] = this.willRetry;
    return { ...data, ...this.result };
  }
}

/** An LLM call: `setUsage` puts tokens and cost in both data and performance. */
export class LlmSpan extends Span {
  setUsage(inputTokens?: number, outputTokens?: number, costUsd?: number): this {
    const usage = fields({ input_tokens: inputTokens, output_tokens: outputTokens, cost_usd: costUsd });
    this.set(usage);
    const performance: Record<string, unknown> = { ...usage };
    if (inputTokens !== undefined || outputTokens !== undefined) performance["token_count"] = (inputTokens ?? 0) + (outputTokens ?? 0);
    this.setPerformance(performance);
    return this;
  }

  setResponse(response: unknown): this {
    return this.set({ response });
  }
}

export class Emitter extends EmitterBase {
  /** A view of the same tracer whose events belong to `agentId` (one buffer, one connection). */
  forAgent(agentId: string): Emitter {
    return new Emitter(this.core, agentId);
  }

  /** The same as `forAgent` (the Python SDK's name). */
  agent(agentId: string): Emitter {
    return this.forAgent(agentId);
  }

  // ------------------------------------------------------------------------------- session --

  /** The session begins (a session-level event: no agent). */
  sessionStart(objective?: string, options: { name?: string; topology?: string; strategy?: string } & Extra = {}): string | undefined {
    return this.emit("session_start", fields({ objective, ...options }), { agentId: SESSION, priority: "high" });
  }

  /** The session ends with `status` (completed, failed, cancelled, …). */
  sessionEnd(status = "completed", data: Extra = {}): string | undefined {
    return this.emit("session_end", { status, ...data }, { agentId: SESSION, priority: "high" });
  }

  // -------------------------------------------------------------------------------- agents --

  /** A new agent joins (spawned by this emitter's agent, if any); returns the new agent's view. */
  agentSpawn(
    agentId: string,
    agentType: string,
    options: { name?: string; capabilities?: unknown[]; parentAgentId?: string; status?: string | null } & Extra = {},
  ): Emitter {
    const { name, capabilities, parentAgentId, status, ...data } = options;
    const parent = parentAgentId ?? (this.agentId !== agentId ? this.agentId : undefined);
    const payload = fields({
      agent_type: agentType,
      name,
      capabilities,
      parent_agent_id: parent,
      status: status === undefined ? "idle" : status,
    });
    this.emit("agent_spawn", { ...payload, ...data }, { agentId, priority: "high" });
    return this.forAgent(agentId);
  }

  /** The agent's status changes (idle, busy, error, …). */
  agentStatus(status: string, options: { from?: string; reason?: string } & Extra = {}): string | undefined {
    return this.emit("agent_status", fields({ status, ...options }));
  }

  /** The agent leaves the swarm. */
  agentTerminate(reason?: string, data: Extra = {}): string | undefined {
    return this.emit("agent_terminate", { ...fields({ reason }), ...data }, { priority: "high" });
  }

  // --------------------------------------------------------------------------------- tasks --

  /** A task is created (with the tasks it depends on). */
  taskCreate(
    taskId: string,
    description?: string,
    options: { dependencies?: string[]; priority?: unknown; maxRetries?: number } & Extra = {},
  ): string | undefined {
    const { dependencies, priority, maxRetries, ...data } = options;
    const payload = fields({ task_id: taskId, description, dependencies: dependencies ?? [], priority, max_retries: maxRetries });
    return this.emit("task_create", { ...payload, ...data }, { correlationId: taskId });
  }

  /** The task is assigned to `agentId` (emitted by the assigner). */
  taskAssign(taskId: string, agentId: string, options: { attempt?: number } & Extra = {}): string | undefined {
    const { attempt, ...data } = options;
    return this.emit("task_assignment", { task_id: taskId, agent_id: agentId, attempt: attempt ?? 1, ...data }, { correlationId: taskId });
  }

  /** The task's attempt starts (opens the span `sp_<task>_a<attempt>`); see also `task()`. */
  taskStart(taskId: string, options: { attempt?: number } & Extra = {}): string | undefined {
    const { attempt = 1, ...data } = options;
    return this.emit("task_start", { task_id: taskId, attempt, ...data }, { phase: "start", spanId: taskSpanId(taskId, attempt), correlationId: taskId });
  }

  /** Progress of the task's attempt (0..1) with a message. */
  taskProgress(taskId: string, progress?: number, message?: string, options: { attempt?: number } & Extra = {}): string | undefined {
    const { attempt = 1, ...data } = options;
    return this.emit(
      "task_progress",
      { ...fields({ task_id: taskId, progress, message }), attempt, ...data },
      { phase: "progress", spanId: taskSpanId(taskId, attempt), correlationId: taskId },
    );
  }

  /** The task's attempt completed (closes its span). */
  taskComplete(taskId: string, result?: unknown, options: { attempt?: number } & Extra = {}): string | undefined {
    const { attempt = 1, ...data } = options;
    return this.emit(
      "task_complete",
      { task_id: taskId, attempt, result: result ?? null, ...data },
      { phase: "complete", spanId: taskSpanId(taskId, attempt), correlationId: taskId },
    );
  }

  /** The task's attempt failed (closes its span with an error); `willRetry` if it will run again. */
  taskFail(taskId: string, error?: unknown, options: { willRetry?: boolean; attempt?: number } & Extra = {}): string | undefined {
    const { willRetry = false, attempt = 1, ...data } = options;
    const extra: Record<string, unknown> = { ...data };
    let message = error;
    if (error instanceof Error) {
      extra["error_type"] ??= error.name;
      message = error.message || error.name;
    }
    return this.emit(
      "task_fail",
      { task_id: taskId, attempt, error: message ?? null, will_retry: willRetry, ...extra },
      { phase: "error", spanId: taskSpanId(taskId, attempt), correlationId: taskId, priority: "high" },
    );
  }

  /** The task is cancelled. */
  taskCancel(taskId: string, reason?: string, data: Extra = {}): string | undefined {
    return this.emit("task_cancel", { ...fields({ task_id: taskId, reason }), ...data }, { correlationId: taskId });
  }

  /**
   * A task attempt as a span around `fn`: task_start, task_progress (`span.progress`), then
   * task_complete, or task_fail if `fn` throws (call `span.retry()` to state `will_retry`).
   */
  task<T>(taskId: string, fn: (span: TaskSpan) => T, options: { attempt?: number; agentId?: string; priority?: SpanOptions["priority"]; data?: EventData } = {}): T {
    const spanOptions: SpanOptions = {};
    if (options.agentId !== undefined) spanOptions.agentId = options.agentId;
    if (options.priority !== undefined) spanOptions.priority = options.priority;
    const span = new TaskSpan(this, taskId, options.attempt ?? 1, options.data ?? {}, spanOptions);
    return span.run(fn as (span: Span) => T);
  }

  /** A tool call as a span around `fn`; `span.set({ result, exit_code })`, `span.fail(error)`. */
  toolCall<T>(tool: string, args: unknown, fn: (span: Span) => T, data: Extra = {}): T {
    return this.span("tool_call", { tool, args: args ?? null, ...data }, fn);
  }

  /** An LLM call as a span around `fn`; `span.setResponse(text)`, `span.setUsage(in, out, cost)`. */
  llmCall<T>(model: string, prompt: unknown, fn: (span: LlmSpan) => T, data: Extra = {}): T {
    const payload: Record<string, unknown> = { model, ...data };
    if (prompt !== undefined) payload["prompt"] = prompt;
    const span = new LlmSpan(this, "llm_call", payload);
    return span.run(fn as (span: Span) => T);
  }

  // ------------------------------------------------------------------------------ messages --

  /** This agent sends a message; returns the message id (pass it as `inReplyTo` to reply). */
  sendMessage(
    to: string | string[],
    content: unknown,
    options: { type?: string; inReplyTo?: string; messageId?: string } & Extra = {},
  ): string {
    const { type = "direct", inReplyTo, messageId, ...data } = options;
    const id = messageId ?? this.core.newMessageId();
    const message = fields({ id, to: typeof to === "string" ? [to] : [...to], type, content, in_reply_to: inReplyTo });
    message["from"] = this.sender();
    this.emit("communication", { message, direction: "sent", ...data });
    return id;
  }

  /** This agent receives the message `messageId` from `sender`. */
  receiveMessage(
    messageId: string,
    sender: string,
    content?: unknown,
    options: { type?: string; inReplyTo?: string; to?: string[] } & Extra = {},
  ): string | undefined {
    const { type, inReplyTo, to, ...data } = options;
    const message = fields({ id: messageId, to: to ?? [this.sender()], type, content, in_reply_to: inReplyTo });
    message["from"] = sender;
    return this.emit("communication", { message, direction: "received", ...data });
  }

  // -------------------------------------------------------------------------------- memory --

  /** A shared-memory entry is written (a new version of `namespace/key`). */
  memoryWrite(key: string, value: unknown, options: { namespace?: string; version?: number } & Extra = {}): string | undefined {
    const { namespace, version, ...data } = options;
    return this.emit("memory_write", { ...fields({ namespace, key, version }), value: value ?? null, ...data });
  }

  /** A shared-memory entry is read (`hit` false for a miss). */
  memoryRead(key: string, options: { namespace?: string; versionRead?: number; hit?: boolean } & Extra = {}): string | undefined {
    const { namespace, versionRead, hit, ...data } = options;
    return this.emit("memory_read", { ...fields({ namespace, key, version_read: versionRead, hit }), ...data });
  }

  /** A shared-memory entry is deleted. */
  memoryDelete(key: string, options: { namespace?: string } & Extra = {}): string | undefined {
    const { namespace, ...data } = options;
    return this.emit("memory_delete", { ...fields({ namespace, key }), ...data });
  }

  // --------------------------------------------------------------------- reasoning, errors --

  /** The agent decides (`kind`: task_decomposition, retry_strategy, …) among `options`. */
  decision(kind: string, options: { options?: unknown; chosen?: unknown; rationale?: string; confidence?: number } & Extra = {}): string | undefined {
    return this.emit("decision", fields({ kind, ...options }));
  }

  /** A coordination step (consensus, deadlock, resource_acquired, resource_released, …). */
  coordination(kind: string, details?: unknown, data: Extra = {}): string | undefined {
    return this.emit("coordination", { ...fields({ kind, details }), ...data });
  }

  /** The agent's working context changes (`key` → `value`). */
  contextUpdate(key: string, value?: unknown, data: Extra = {}): string | undefined {
    return this.emit("context_update", { key, value: value ?? null, ...data });
  }

  /** An error (an Error or a message); high priority. */
  error(
    error: unknown,
    options: { errorType?: string; scope?: string; recoverable?: boolean; stack?: string } & Extra = {},
  ): string | undefined {
    const { errorType, scope, recoverable, stack, ...data } = options;
    let message: string;
    let type = errorType;
    let trace = stack;
    if (error instanceof Error) {
      const described = describeError(error);
      message = described.message;
      type ??= described.type;
      trace ??= described.stack;
    } else {
      message = String(error);
    }
    return this.emit("error", { ...fields({ message, error_type: type, scope, recoverable, stack: trace }), ...data }, { priority: "high" });
  }

  /** A measured value crossed its threshold. */
  performanceAlert(metric: string, value: number, threshold: number, data: Extra = {}): string | undefined {
    return this.emit("performance_alert", { metric, value, threshold, ...data }, { priority: "high" });
  }

  private sender(): string {
    return this.boundAgent ?? this.core.context()?.agentId ?? this.core.defaultAgent ?? "session";
  }
}
