/**
 * Claude Code hooks → contract events: the TypeScript side of `swarmscope_schema.claude_code`.
 *
 * The names and tables (hook events, subagent tools, Claude-Flow's MCP tools and where each of
 * their fields is read) come from `docs/contract/claude-code.json` (the generated `CLAUDE_CODE`);
 * the field specs are read by the same interpreter as the alias table (`claude-flow-fields.ts`).
 * The control flow below follows the Python module step for step, and `test/hooks.test.ts` runs
 * every recorded case of `docs/contract/claude-code-hook-cases.json` (payload, state before, events
 * and state after, generated from the Python mapping) through it: the two cannot drift silently.
 * See the Python module's docstring for what maps to what.
 */
import { CLAUDE_CODE } from "./contract.generated.js";
import { resolveField, type FieldSpec } from "./claude-flow-fields.js";

type Obj = Record<string, unknown>;
export type HookEvent = Obj;
export type HookState = Obj;

interface McpRule {
  type: string;
  fields: Readonly<Record<string, FieldSpec>>;
  requires?: readonly string[];
  agent?: FieldSpec;
  constants?: Readonly<Record<string, unknown>>;
}

const SOURCE = CLAUDE_CODE.source;
const MAIN = CLAUDE_CODE.main_agent;
const USER = CLAUDE_CODE.user;
const TAGS: readonly string[] = CLAUDE_CODE.tags;
const CUSTOM_PREFIX = CLAUDE_CODE.custom_prefix;
const SUBAGENT_TOOLS: readonly string[] = CLAUDE_CODE.subagent_tools;
const MCP_SERVERS: readonly string[] = CLAUDE_CODE.mcp_servers;
const MCP_TOOLS = CLAUDE_CODE.mcp_tools as unknown as Readonly<Record<string, McpRule>>;
const STATE_VERSION = CLAUDE_CODE.state_version;
const MAX_OPEN_TOOLS = CLAUDE_CODE.max_open_tools;
const MAX_AGENTS = CLAUDE_CODE.max_agents;
const HIGH_PRIORITY_EFFECTS = new Set(["agent_spawn", "agent_terminate"]);

/** A payload without the fields every hook carries (session_id, hook_event_name). */
export class HookPayloadError extends Error {}

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isText(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/** Bounds the state: at `limit` entries the oldest (first inserted) goes, as in Python. */
function dropOldest(map: Obj, limit: number): void {
  const keys = Object.keys(map);
  if (keys.length >= limit && keys[0] !== undefined) Reflect.deleteProperty(map, keys[0]);
}

/** The given keys whose values are not null/undefined (Python's `_present`). */
function present(values: Obj): Obj {
  const out: Obj = {};
  for (const [key, value] of Object.entries(values)) if (value !== null && value !== undefined) out[key] = value;
  return out;
}

/** A session or agent id (`[A-Za-z0-9_-]{1,128}`) made from any text. */
export function safeName(value: unknown, fallback = "unknown"): string {
  const text = (typeof value === "string" ? value : "").replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 128);
  return text !== "" && text !== "_" ? text : fallback;
}

/** An event id made from a tool use id, with room for a suffix. */
export function safeId(value: string): string {
  return value.replace(/[^A-Za-z0-9_.:-]/g, "-").slice(0, 100) || "id";
}

export function subagentName(agentType: unknown, agentId: unknown): string {
  const kind = isText(agentType) ? agentType : "subagent";
  return safeName(isText(agentId) ? `${kind}-${agentId}` : kind);
}

export function customType(hookEvent: string): string {
  let token = hookEvent.replace(/(?<=[a-z0-9])(?=[A-Z])/g, "_").toLowerCase();
  token = token.replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "") || "unknown";
  return CUSTOM_PREFIX + token.slice(0, 100);
}

export function mcpTool(toolName: string): string | undefined {
  const parts = toolName.split("__");
  return parts.length === 3 && parts[0] === "mcp" && MCP_SERVERS.includes(parts[1] ?? "") ? parts[2] : undefined;
}

export function newState(): HookState {
  return { v: STATE_VERSION, started: false, prompts: 0, prompt: null, compaction: null, tools: {}, agents: {} };
}

export function sessionOver(payload: Obj): boolean {
  return payload["hook_event_name"] === "SessionEnd";
}

const TOOL_RESULT_KEYS = new Set(["content", "isError", "_meta"]);

/** An MCP tool's response as data (structuredContent, text blocks, JSON text). */
export function parseToolResponse(value: unknown): unknown {
  if (isObject(value)) {
    if (isObject(value["structuredContent"])) return { ...value["structuredContent"] };
    if (Array.isArray(value["content"]) && Object.keys(value).every((k) => TOOL_RESULT_KEYS.has(k))) value = value["content"];
  }
  if (Array.isArray(value) && value.length > 0 && value.every(isObject)) {
    const blocks = value;
    const texts = blocks.filter((b) => b["type"] === "text" && typeof b["text"] === "string").map((b) => b["text"] as string);
    if (texts.length === blocks.length) value = texts.join("");
  }
  if (typeof value === "string") {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return value;
}

interface EmitOpts {
  agent: string | null;
  eventId?: string;
  phase?: string;
  span?: string | null;
  parent?: string | null;
  correlation?: string | null;
  priority?: string;
  performance?: Obj | null;
}

interface ToolRecord extends Obj {
  agent: string;
  tool: string;
  at: number;
  parent: string | null;
}

class Hook {
  readonly session: string;
  readonly hook: string;
  readonly events: HookEvent[] = [];

  constructor(
    readonly payload: Obj,
    readonly state: HookState,
    readonly now: number,
    readonly newId: () => string,
  ) {
    this.session = safeName(payload["session_id"]);
    this.hook = String(payload["hook_event_name"]);
  }

  private get tools(): Record<string, ToolRecord> {
    return this.state["tools"] as Record<string, ToolRecord>;
  }

  private get agents(): Record<string, Obj> {
    return this.state["agents"] as Record<string, Obj>;
  }

  private text(key: string): string | null {
    const value = this.payload[key];
    return isText(value) ? value : null;
  }

  emit(type: string, data: Obj, o: EmitOpts): string {
    const event: HookEvent = {
      id: o.eventId ?? this.newId(),
      timestamp: this.now,
      session_id: this.session,
      type,
      phase: o.phase ?? "complete",
      data,
    };
    if (o.agent !== null) event["agent_id"] = o.agent;
    if (o.span !== undefined && o.span !== null) event["span_id"] = o.span;
    const metadata: Obj = { source: SOURCE, tags: [...TAGS], hook_event: this.hook };
    if (o.parent !== undefined && o.parent !== null) metadata["parent_id"] = o.parent;
    if (o.correlation !== undefined && o.correlation !== null) metadata["correlation_id"] = o.correlation;
    if (o.priority !== undefined) metadata["priority"] = o.priority;
    event["metadata"] = metadata;
    if (o.performance) event["performance"] = o.performance;
    this.events.push(event);
    return event["id"] as string;
  }

  ensureStarted(): void {
    if (this.state["started"]) return;
    this.state["started"] = true;
    const cwd = this.text("cwd");
    const folder = cwd !== null ? (cwd.replace(/\/+$/, "").split("/").at(-1) ?? null) : null;
    this.emit(
      "session_start",
      present({
        name: folder ? `Claude Code · ${folder}` : "Claude Code",
        cwd,
        model: this.payload["model"],
        start_source: this.payload["source"],
        permission_mode: this.payload["permission_mode"],
        transcript_path: this.payload["transcript_path"],
      }),
      { agent: null, eventId: "session-start", priority: "high" },
    );
    const agentType = this.hook === "SessionStart" ? this.text("agent_type") : null;
    this.emit(
      "agent_spawn",
      present({ agent_type: agentType ?? "claude-code", name: "Claude Code", status: "idle", model: this.payload["model"] }),
      { agent: MAIN, eventId: "spawn-main", priority: "high" },
    );
  }

  actor(): string {
    const agentId = this.payload["agent_id"];
    if (isText(agentId)) {
      const name = subagentName(this.payload["agent_type"], agentId);
      if (!(name in this.agents)) this.spawn(name);
      return name;
    }
    return MAIN;
  }

  taskSpan(agent: string): [string | null, string | null] {
    if (agent === MAIN) {
      const prompt = this.state["prompt"];
      return isText(prompt) ? [`sp_${prompt}_a1`, prompt] : [null, null];
    }
    const task = (this.agents[agent] ?? {})["task"];
    return isText(task) ? [`sp_${task}_a1`, task] : [null, null];
  }

  spawn(agent: string): void {
    const agentType = this.text("agent_type");
    let claim: string | null = null;
    for (const preferred of [true, false]) {
      for (const [toolUseId, info] of Object.entries(this.tools)) {
        const unclaimed = Boolean(info["subagent"]) && (info["claimed"] === null || info["claimed"] === undefined);
        if (unclaimed && (!preferred || info["subagent_type"] === agentType)) {
          claim = toolUseId;
          break;
        }
      }
      if (claim !== null) break;
    }
    const info = claim !== null ? this.tools[claim] : undefined;
    const parentAgent = info !== undefined ? info.agent : MAIN;
    const agents = this.agents;
    dropOldest(agents, MAX_AGENTS);
    agents[agent] = { parent: parentAgent, task: claim, done: false };
    const parentSpan = claim ?? this.taskSpan(parentAgent)[0];
    this.emit(
      "agent_spawn",
      present({
        agent_type: agentType ?? "subagent",
        name: info?.["description"],
        parent_agent_id: parentAgent,
        status: "busy",
        claude_agent_id: this.payload["agent_id"],
      }),
      { agent, eventId: `spawn-${agent}`, parent: parentSpan, priority: "high" },
    );
    if (claim === null || info === undefined) return;
    info["claimed"] = agent;
    this.emit("task_assignment", { task_id: claim, agent_id: agent, attempt: 1 }, {
      agent: parentAgent,
      eventId: `${safeId(claim)}.assign`,
      parent: claim,
      correlation: claim,
    });
    this.emit("task_start", { task_id: claim, attempt: 1 }, {
      agent,
      eventId: `${safeId(claim)}.task-start`,
      phase: "start",
      span: `sp_${claim}_a1`,
      parent: claim,
      correlation: claim,
    });
  }

  endSubagentTask(agent: string, result: unknown, failed = false): void {
    const record = this.agents[agent];
    if (!record || !isText(record["task"]) || record["done"]) return;
    record["done"] = true;
    const task = record["task"];
    if (failed) {
      this.emit("task_fail", present({ task_id: task, attempt: 1, error: result }), {
        agent,
        eventId: `${safeId(task)}.task-end`,
        phase: "error",
        span: `sp_${task}_a1`,
        parent: task,
        correlation: task,
        priority: "high",
      });
      return;
    }
    this.emit("task_complete", present({ task_id: task, attempt: 1, result }), {
      agent,
      eventId: `${safeId(task)}.task-end`,
      span: `sp_${task}_a1`,
      parent: task,
      correlation: task,
    });
  }

  closePrompt(how: "complete" | "fail" | "cancel", detail: unknown): void {
    const prompt = this.state["prompt"];
    if (!isText(prompt)) return;
    this.state["prompt"] = null;
    const span = `sp_${prompt}_a1`;
    if (how === "complete") {
      this.emit("task_complete", present({ task_id: prompt, attempt: 1, result: detail }), { agent: MAIN, span, correlation: prompt });
    } else if (how === "fail") {
      this.emit("task_fail", { task_id: prompt, attempt: 1, error: detail }, {
        agent: MAIN,
        phase: "error",
        span,
        correlation: prompt,
        priority: "high",
      });
    } else {
      this.emit("task_cancel", { task_id: prompt, reason: detail }, { agent: MAIN, span, correlation: prompt });
    }
  }

  messageToUser(messageType: string, content: unknown, extra: Obj = {}): void {
    const agent = this.actor();
    const eventId = this.newId();
    const message = { id: eventId, from: agent, to: [USER], type: messageType, content };
    this.emit("communication", { message, direction: "sent", ...present(extra) }, {
      agent,
      eventId,
      parent: this.taskSpan(agent)[0],
    });
  }

  sessionStart(): void {
    if (this.state["started"]) {
      this.emit("context_update", { key: "session_start", value: present({ source: this.payload["source"], model: this.payload["model"] }) }, { agent: MAIN });
      return;
    }
    this.ensureStarted();
  }

  userPromptSubmit(): void {
    this.closePrompt("cancel", "a new prompt came before Claude stopped (interrupted)");
    this.state["prompts"] = Number(this.state["prompts"]) + 1;
    const task = `prompt-${String(this.state["prompts"])}`;
    this.state["prompt"] = task;
    const prompt = this.payload["prompt"];
    this.emit("task_create", present({ task_id: task, description: typeof prompt === "string" ? prompt : null, dependencies: [] }), {
      agent: MAIN,
      correlation: task,
    });
    this.emit("task_assignment", { task_id: task, agent_id: MAIN, attempt: 1 }, { agent: MAIN, correlation: task });
    this.emit("task_start", { task_id: task, attempt: 1 }, { agent: MAIN, phase: "start", span: `sp_${task}_a1`, correlation: task });
  }

  stop(): void {
    if (isText(this.state["prompt"])) {
      this.closePrompt("complete", this.payload["last_assistant_message"]);
      return;
    }
    this.emit("agent_status", { status: "idle", reason: "stopped" }, { agent: MAIN });
  }

  stopFailure(): void {
    const p = this.payload;
    const error = p["error"] || p["reason"] || p["stop_reason"] || "stop failure";
    if (isText(this.state["prompt"])) {
      this.closePrompt("fail", error);
      return;
    }
    this.emit("error", { message: typeof error === "string" ? error : JSON.stringify(error), scope: "session", error_type: "StopFailure" }, {
      agent: MAIN,
      priority: "high",
    });
  }

  toolUseId(): [string, boolean] {
    const value = this.payload["tool_use_id"];
    return isText(value) ? [value, true] : [this.newId(), false];
  }

  preToolUse(): void {
    const agent = this.actor();
    const [toolUseId, given] = this.toolUseId();
    const tool = this.text("tool_name") ?? "unknown";
    const args = this.payload["tool_input"];
    const [parent, correlation] = this.taskSpan(agent);
    this.emit("tool_call", present({ tool, args }), {
      agent,
      eventId: given ? `${safeId(toolUseId)}.start` : toolUseId,
      phase: "start",
      span: toolUseId,
      parent,
      correlation,
    });
    const tools = this.tools;
    dropOldest(tools, MAX_OPEN_TOOLS);
    const record: ToolRecord = { agent, tool, at: this.now, parent };
    if (SUBAGENT_TOOLS.includes(tool)) {
      const inputs = isObject(args) ? args : {};
      const description = typeof inputs["description"] === "string" ? inputs["description"] : null;
      const subagentType = typeof inputs["subagent_type"] === "string" ? inputs["subagent_type"] : null;
      Object.assign(record, { subagent: true, subagent_type: subagentType, description, claimed: null });
      this.emit(
        "task_create",
        present({ task_id: toolUseId, description, prompt: inputs["prompt"], subagent_type: subagentType, dependencies: [] }),
        { agent, eventId: `${safeId(toolUseId)}.task`, parent: toolUseId, correlation: toolUseId },
      );
    }
    tools[toolUseId] = record;
  }

  postToolUse(failed: boolean): void {
    let agent = this.actor();
    const [toolUseId, given] = this.toolUseId();
    let record: ToolRecord | null = null;
    if (given && toolUseId in this.tools) {
      record = this.tools[toolUseId] ?? null;
      Reflect.deleteProperty(this.tools, toolUseId);
    }
    const tool = this.text("tool_name") ?? (record?.tool || null) ?? "unknown";
    let parent: string | null;
    if (record !== null) {
      parent = record.parent;
      agent = record.agent || agent;
    } else {
      parent = this.taskSpan(agent)[0];
    }
    const correlation = this.taskSpan(agent)[1];
    const performance = record !== null ? { duration: this.now - record.at } : null;
    const endId = given ? `${safeId(toolUseId)}.end` : toolUseId;
    if (failed) {
      this.emit("tool_call", present({ tool, error: this.payload["error"], is_interrupt: this.payload["is_interrupt"] }), {
        agent,
        eventId: endId,
        phase: "error",
        span: toolUseId,
        parent,
        correlation,
        priority: "high",
        performance,
      });
    } else {
      this.emit("tool_call", present({ tool, result: this.payload["tool_response"] }), {
        agent,
        eventId: endId,
        span: toolUseId,
        parent,
        correlation,
        performance,
      });
      this.mcpEffect(tool, toolUseId, agent);
    }
    if (record !== null && record["subagent"]) this.endDelegation(record, toolUseId, agent, failed);
  }

  endDelegation(record: ToolRecord, toolUseId: string, caller: string, failed: boolean): void {
    const outcome = failed ? this.payload["error"] : this.payload["tool_response"];
    const claimed = record["claimed"];
    if (isText(claimed)) {
      this.endSubagentTask(claimed, outcome, failed);
      return;
    }
    const data = failed
      ? present({ task_id: toolUseId, attempt: 1, error: outcome })
      : present({ task_id: toolUseId, attempt: 1, result: outcome });
    const opts: EmitOpts = {
      agent: caller,
      eventId: `${safeId(toolUseId)}.task-end`,
      phase: failed ? "error" : "complete",
      parent: toolUseId,
      correlation: toolUseId,
    };
    if (failed) opts.priority = "high";
    this.emit(failed ? "task_fail" : "task_complete", data, opts);
  }

  mcpEffect(tool: string, toolUseId: string, agent: string): void {
    const name = mcpTool(tool);
    const rule = name !== undefined && Object.prototype.hasOwnProperty.call(MCP_TOOLS, name) ? MCP_TOOLS[name] : undefined;
    if (rule === undefined) return;
    const response = parseToolResponse(this.payload["tool_response"]);
    if (isObject(response) && response["success"] === false) return;
    const source = { input: this.payload["tool_input"] || {}, response };
    const data: Obj = {};
    for (const [key, spec] of Object.entries(rule.fields)) {
      const value = resolveField(spec, source);
      if (value !== null && value !== undefined) data[key] = value;
    }
    for (const [key, value] of Object.entries(rule.constants ?? {})) if (!(key in data)) data[key] = value;
    if ((rule.requires ?? []).some((key) => data[key] === null || data[key] === undefined)) return;
    let actor = agent;
    if (rule.agent !== undefined) {
      const named = resolveField(rule.agent, source);
      if (!isText(named)) return;
      actor = safeName(named);
    }
    if (rule.type === "agent_spawn") data["parent_agent_id"] = agent;
    const opts: EmitOpts = {
      agent: actor,
      eventId: `${safeId(toolUseId)}.effect`,
      parent: toolUseId,
      correlation: typeof data["task_id"] === "string" ? data["task_id"] : null,
    };
    if (HIGH_PRIORITY_EFFECTS.has(rule.type)) opts.priority = "high";
    this.emit(rule.type, data, opts);
  }

  subagentStart(): void {
    const name = subagentName(this.payload["agent_type"], this.payload["agent_id"]);
    if (name in this.agents) {
      this.emit("agent_status", { status: "busy", reason: "resumed" }, { agent: name });
      return;
    }
    this.spawn(name);
  }

  subagentStop(): void {
    const name = this.actor();
    const message = this.payload["last_assistant_message"];
    const record = this.agents[name] ?? {};
    const hadTask = Boolean(record["task"]) && !record["done"];
    this.endSubagentTask(name, message);
    this.emit(
      "agent_terminate",
      present({ reason: "completed", last_assistant_message: hadTask ? null : message, transcript_path: this.payload["agent_transcript_path"] }),
      { agent: name, parent: isText(record["task"]) ? record["task"] : null, priority: "high" },
    );
  }

  preCompact(): void {
    const agent = this.actor();
    const span = this.newId();
    const parent = this.taskSpan(agent)[0];
    this.state["compaction"] = { span, parent };
    this.emit(
      "context_update",
      {
        key: "compaction",
        value: present({
          trigger: this.payload["trigger"] || this.payload["compact_trigger"],
          custom_instructions: this.payload["custom_instructions"],
        }),
      },
      { agent, eventId: span, phase: "start", span, parent },
    );
  }

  postCompact(): void {
    const agent = this.actor();
    const open = isObject(this.state["compaction"]) ? this.state["compaction"] : {};
    this.state["compaction"] = null;
    const span = isText(open["span"]) ? open["span"] : null;
    this.emit(
      "context_update",
      {
        key: "compaction",
        value: present({
          trigger: this.payload["trigger"] || this.payload["compact_trigger"],
          compact_summary: this.payload["compact_summary"],
        }),
      },
      { agent, span, parent: span !== null ? ((open["parent"] as string | null | undefined) ?? null) : this.taskSpan(agent)[0] },
    );
  }

  teamTask(completed: boolean): void {
    const taskId = this.payload["task_id"];
    if (!(typeof taskId === "string" || typeof taskId === "number") || taskId === "") {
      this.unknown();
      return;
    }
    const task = `cc-task-${safeName(String(taskId))}`;
    const details = present({
      subject: this.payload["task_subject"],
      details: this.payload["task_description"],
      teammate: this.payload["teammate_name"],
      team: this.payload["team_name"],
    });
    const agent = this.actor();
    if (completed) {
      this.emit("task_complete", { task_id: task, ...details }, { agent, correlation: task });
      return;
    }
    this.emit("task_create", { task_id: task, description: this.payload["task_subject"] ?? null, dependencies: [], ...details }, {
      agent,
      correlation: task,
    });
  }

  teammateIdle(): void {
    const teammate = this.text("teammate_name");
    if (teammate === null) {
      this.unknown();
      return;
    }
    const name = safeName(teammate);
    if (!(name in this.agents)) {
      const agents = this.agents;
      dropOldest(agents, MAX_AGENTS);
      agents[name] = { parent: MAIN, task: null, done: false };
      this.emit(
        "agent_spawn",
        present({ agent_type: "teammate", name: teammate, parent_agent_id: MAIN, team: this.payload["team_name"] }),
        { agent: name, eventId: `spawn-${name}`, priority: "high" },
      );
    }
    this.emit("agent_status", { status: "idle", reason: "teammate idle" }, { agent: name });
  }

  sessionEnd(): void {
    this.closePrompt("cancel", "the session ended");
    const reason = this.payload["reason"];
    this.emit("agent_terminate", present({ reason }), { agent: MAIN, eventId: "terminate-main", priority: "high" });
    this.emit("session_end", present({ status: "completed", reason }), { agent: null, eventId: "session-end", priority: "high" });
  }

  unknown(): void {
    const data: Obj = {};
    for (const [key, value] of Object.entries(this.payload)) if (key !== "session_id" && key !== "hook_event_name") data[key] = value;
    const agent = this.actor();
    this.emit(customType(this.hook), data, { agent, parent: this.taskSpan(agent)[0] });
  }
}

const HANDLERS: Readonly<Record<string, (hook: Hook) => void>> = {
  SessionStart: (h) => { h.sessionStart(); },
  SessionEnd: (h) => { h.sessionEnd(); },
  UserPromptSubmit: (h) => { h.userPromptSubmit(); },
  PreToolUse: (h) => { h.preToolUse(); },
  PostToolUse: (h) => { h.postToolUse(false); },
  PostToolUseFailure: (h) => { h.postToolUse(true); },
  PermissionRequest: (h) => {
    h.messageToUser(
      "permission_request",
      present({ tool: h.payload["tool_name"], args: h.payload["tool_input"], suggestions: h.payload["permission_suggestions"] }),
    );
  },
  Notification: (h) => {
    const kind = h.payload["notification_type"];
    h.messageToUser(isText(kind) ? kind : "notification", h.payload["message"], { title: h.payload["title"] });
  },
  Stop: (h) => { h.stop(); },
  StopFailure: (h) => { h.stopFailure(); },
  SubagentStart: (h) => { h.subagentStart(); },
  SubagentStop: (h) => { h.subagentStop(); },
  PreCompact: (h) => { h.preCompact(); },
  PostCompact: (h) => { h.postCompact(); },
  TaskCreated: (h) => { h.teamTask(false); },
  TaskCompleted: (h) => { h.teamTask(true); },
  TeammateIdle: (h) => { h.teammateIdle(); },
};

/**
 * The trace events of one hook call, in order; updates `state` (load it before, store it after).
 * `now` is the receipt time in epoch ms, `newId` makes a fresh event id. Throws HookPayloadError for
 * a payload that is not an object with a session_id and a hook_event_name.
 */
export function mapHook(payload: unknown, state: HookState, now: number, newId: () => string): HookEvent[] {
  if (!isObject(payload)) throw new HookPayloadError("a hook payload is a JSON object");
  if (!isText(payload["session_id"])) throw new HookPayloadError("the hook payload has no session_id");
  if (!isText(payload["hook_event_name"])) throw new HookPayloadError("the hook payload has no hook_event_name");
  if (state["v"] !== STATE_VERSION) {
    for (const key of Object.keys(state)) Reflect.deleteProperty(state, key);
    Object.assign(state, newState());
  }
  const hook = new Hook(payload, state, now, newId);
  if (hook.hook !== "SessionStart") hook.ensureStarted();
  const handler = Object.prototype.hasOwnProperty.call(HANDLERS, hook.hook) ? HANDLERS[hook.hook] : undefined;
  if (handler !== undefined) handler(hook);
  else hook.unknown();
  return hook.events;
}
