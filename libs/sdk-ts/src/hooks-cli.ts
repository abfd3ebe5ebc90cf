/**
 * `swarmscope hook` and `swarmscope hooks install|uninstall` for Node (the package's bin): the same
 * commands as the Python CLI (libs/sdk `swarmscope.claude_hook` / `claude_settings`), with the same
 * state files, defaults, settings block and guarantees — nothing on stdout, exit code 0 always, a
 * bounded time (`--timeout`, 2 s), errors to the log file, unsent events spooled and resent with the
 * same ids. One difference: a session's calls are serialized by a lock directory
 * (`<session>.lockdir`), not the Python CLI's flock, so do not run both CLIs on one session at once.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

import { PRIORITY_RANK } from "./buffer.js";
import { CLAUDE_CODE } from "./contract.generated.js";
import { encodeEvent, MAX_EVENT_BYTES, type Encoded } from "./encoding.js";
import { HookPayloadError, mapHook, newState, safeName, sessionOver, type HookEvent, type HookState } from "./hooks.js";
import { Redactor } from "./redaction.js";
import { HttpTransport, NatsTransport, OK, RETRY, type Transport } from "./transport.js";

const MAX_INPUT_BYTES = 64 * 1024 * 1024;
const MAX_SPOOLED_EVENTS = 5000;
const MAX_LOG_BYTES = 1024 * 1024;
const STALE_LOCK_MS = 10_000;
const HOOK_EVENTS: readonly string[] = CLAUDE_CODE.hook_events;
const TOOL_EVENTS = new Set(["PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"]);
export const HOOK_TIMEOUT_SECONDS = 10;
const OURS = /(?:^|[\s/\\])swarmscope(?:@\S*)?(?:\.[cm]?js|\.exe)?["']?\s+(?:--?\S+\s+)*hook(?:\s|$)/;

export interface HookOptions {
  stateDir: string;
  logPath: string;
  timeoutMs: number;
  natsUrl: string | undefined;
  gatewayUrl: string | undefined;
  apiKey: string | undefined;
}

/** Defaults as the Python CLI's: flags, else $SWARMSCOPE_NATS_URL, else $SWARMSCOPE_GATEWAY_URL (HTTP), else the default NATS. */
export function resolveHookOptions(flags: Partial<Record<string, string>>, env: NodeJS.ProcessEnv = process.env): HookOptions {
  const stateDir =
    flags["state-dir"] ?? env["SWARMSCOPE_HOOK_STATE_DIR"] ?? join(env["XDG_STATE_HOME"] ?? join(homedir(), ".local", "state"), "swarmscope", "claude-code");
  const seconds = Number(flags["timeout"] ?? env["SWARMSCOPE_HOOK_TIMEOUT"] ?? 2);
  let natsUrl = flags["nats-url"];
  let gatewayUrl = flags["gateway-url"];
  if (natsUrl === undefined && gatewayUrl === undefined) {
    if (env["SWARMSCOPE_NATS_URL"]) natsUrl = env["SWARMSCOPE_NATS_URL"];
    else if (env["SWARMSCOPE_GATEWAY_URL"]) gatewayUrl = env["SWARMSCOPE_GATEWAY_URL"];
    else natsUrl = "nats://127.0.0.1:14222";
  }
  return {
    stateDir,
    logPath: flags["log"] ?? env["SWARMSCOPE_HOOK_LOG"] ?? join(stateDir, "hook.log"),
    timeoutMs: Math.max(100, (Number.isFinite(seconds) ? seconds : 2) * 1000),
    natsUrl,
    gatewayUrl,
    apiKey: flags["api-key"] ?? env["SWARMSCOPE_API_KEY"],
  };
}

class Log {
  constructor(private readonly path: string) {}

  write(level: string, message: string): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      if (existsSync(this.path) && statSync(this.path).size > MAX_LOG_BYTES) renameSync(this.path, `${this.path}.1`);
      appendFileSync(this.path, `${new Date().toISOString()} ${level} pid=${String(process.pid)} ${message}\n`);
    } catch {
      // Nowhere to log: stay silent rather than fail the hook.
    }
  }
}

function keepRejected(stateDir: string, raw: Buffer, reason: string): string | undefined {
  try {
    const folder = join(stateDir, "rejected");
    mkdirSync(folder, { recursive: true });
    const path = join(folder, `${String(Date.now())}${randomBytes(3).toString("hex")}-${String(process.pid)}.json`);
    writeFileSync(path, raw);
    writeFileSync(path.replace(/\.json$/, ".why"), reason + "\n");
    return path;
  } catch {
    return undefined;
  }
}

async function readInput(deadline: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise((resolveInput, reject) => {
    const timer = setTimeout(() => { reject(new Error(`stdin did not end in time (${String(size)} bytes read)`)); }, Math.max(1, deadline - Date.now()));
    process.stdin.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_INPUT_BYTES) reject(new Error(`the hook payload is over ${String(MAX_INPUT_BYTES)} bytes`));
      else chunks.push(chunk);
    });
    process.stdin.on("end", () => {
      clearTimeout(timer);
      resolveInput(Buffer.concat(chunks));
    });
    process.stdin.on("error", reject);
  });
}

/** The session's `{state, pending}` file (the Python CLI's format) under a lock directory. */
class SessionFile {
  readonly path: string;
  private readonly lockDir: string;
  state: HookState = newState();
  pending: HookEvent[] = [];

  constructor(stateDir: string, sessionId: string) {
    const name = safeName(sessionId);
    this.path = join(stateDir, `${name}.json`);
    this.lockDir = join(stateDir, `${name}.lockdir`);
  }

  async lock(deadline: number): Promise<boolean> {
    mkdirSync(dirname(this.path), { recursive: true });
    for (;;) {
      try {
        mkdirSync(this.lockDir);
        return true;
      } catch {
        try {
          // A lock left by a killed process goes after STALE_LOCK_MS.
          if (Date.now() - statSync(this.lockDir).mtimeMs > STALE_LOCK_MS) rmdirSync(this.lockDir);
        } catch {
          // gone meanwhile
        }
        if (Date.now() >= deadline) return false;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  unlock(): void {
    try {
      rmdirSync(this.lockDir);
    } catch {
      // already gone
    }
  }

  load(log: Log): void {
    let body: unknown;
    try {
      body = JSON.parse(readFileSync(this.path, "utf8"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") log.write("ERROR", `unreadable state ${this.path}; starting afresh`);
      return;
    }
    if (body !== null && typeof body === "object") {
      const { state, pending } = body as { state?: unknown; pending?: unknown };
      if (state !== null && typeof state === "object" && !Array.isArray(state)) this.state = state as HookState;
      if (Array.isArray(pending)) this.pending = pending.filter((e): e is HookEvent => e !== null && typeof e === "object");
    }
  }

  save(ended: boolean, log: Log): void {
    if (this.pending.length > MAX_SPOOLED_EVENTS) {
      log.write("ERROR", `spool of ${this.path} full: ${String(this.pending.length - MAX_SPOOLED_EVENTS)} oldest unsent events dropped`);
      this.pending = this.pending.slice(this.pending.length - MAX_SPOOLED_EVENTS);
    }
    if (ended && this.pending.length === 0) {
      rmSync(this.path, { force: true });
      return;
    }
    const partial = `${this.path}.${String(process.pid)}.part`;
    writeFileSync(partial, JSON.stringify({ state: ended ? null : this.state, pending: this.pending }));
    renameSync(partial, this.path);
  }
}

function rank(event: HookEvent): number {
  const priority = (event["metadata"] as Record<string, unknown> | undefined)?.["priority"];
  return PRIORITY_RANK[typeof priority === "string" ? priority : "normal"] ?? PRIORITY_RANK["normal"] ?? 1;
}

function tooLarge(event: HookEvent, size: number): HookEvent {
  const metadata = (event["metadata"] ?? {}) as Record<string, unknown>;
  const out: HookEvent = {
    id: `${String(event["id"])}.too-large`.slice(0, 128),
    timestamp: event["timestamp"],
    session_id: event["session_id"],
    type: "error",
    data: {
      message: `event ${String(event["id"])} (${String(event["type"])}) is ${String(size)} bytes encoded, over the ${String(MAX_EVENT_BYTES)}-byte limit; the hook did not send it`,
      error_type: "EventTooLarge",
      scope: "sdk",
      recoverable: true,
      dropped_event: { id: event["id"], type: event["type"], bytes: size },
    },
    metadata: { source: metadata["source"], tags: metadata["tags"] ?? [], priority: "high" },
  };
  if (event["agent_id"] !== undefined) out["agent_id"] = event["agent_id"];
  return out;
}

async function publish(events: HookEvent[], options: HookOptions, deadline: number, log: Log): Promise<HookEvent[]> {
  if (events.length === 0) return [];
  const redactor = new Redactor({ keys: undefined, values: true, maxValueBytes: undefined });
  const batch: Encoded[] = events.map((event) => {
    let encoded = encodeEvent(event, rank(event));
    encoded.payload = redactor.prepare(encoded.payload).payload;
    const size = Buffer.byteLength(encoded.payload);
    if (size > MAX_EVENT_BYTES) {
      log.write("ERROR", `event ${String(event["id"])} is ${String(size)} bytes encoded; sent an EventTooLarge error instead`);
      encoded = encodeEvent(tooLarge(event, size), PRIORITY_RANK["high"] ?? 2);
    }
    return encoded;
  });
  const transport: Transport = options.natsUrl !== undefined
    ? new NatsTransport(options.natsUrl, "swarmscope-hook-ts", true)
    : new HttpTransport(options.gatewayUrl ?? "http://127.0.0.1:8000", options.apiKey);
  let outcomes: string[] = batch.map(() => RETRY);
  const remaining = (): number => Math.max(50, deadline - Date.now());
  try {
    await Promise.race([
      transport.connect(),
      new Promise((_, reject) => setTimeout(() => { reject(new Error("connect timed out")); }, remaining()).unref()),
    ]);
    outcomes = await transport.send(batch, remaining());
  } catch (error) {
    log.write("WARNING", `cannot publish via ${transport.description}: ${String(error)}`);
  } finally {
    await Promise.race([transport.close().catch(() => undefined), new Promise((r) => setTimeout(r, 200).unref())]);
  }
  const again: HookEvent[] = [];
  outcomes.forEach((outcome, index) => {
    const event = events[index];
    if (event === undefined) return;
    if (outcome === RETRY) again.push(event);
    else if (outcome !== OK) log.write("ERROR", `${transport.description} refused event ${String(event["id"])}: ${outcome}`);
  });
  if (again.length > 0) log.write("WARNING", `${String(again.length)} of ${String(events.length)} events not sent via ${transport.description}; spooled for the next call`);
  return again;
}

/** One `swarmscope hook` call; resolves to 0 whatever happened. */
export async function runHook(options: HookOptions): Promise<number> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const log = new Log(options.logPath);
  let raw: Buffer = Buffer.alloc(0);
  try {
    raw = await readInput(deadline);
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString("utf8"));
    } catch (error) {
      throw new HookPayloadError(`not valid JSON: ${String(error)}`);
    }
    const sessionId = (payload as Record<string, unknown> | null)?.["session_id"];
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) throw new HookPayloadError("a hook payload is a JSON object");
    if (typeof sessionId !== "string" || sessionId === "") throw new HookPayloadError("the hook payload has no session_id");
    const session = new SessionFile(options.stateDir, sessionId);
    if (!(await session.lock(deadline))) {
      log.write("ERROR", `session ${sessionId} busy until the deadline; payload kept in ${String(keepRejected(options.stateDir, raw, "lock busy"))}`);
      return 0;
    }
    try {
      session.load(log);
      let counter = 0;
      const tag = randomBytes(4).toString("hex");
      const newId = (): string => `${Math.trunc(started).toString(16).padStart(11, "0")}${tag}${(counter++).toString(16).padStart(6, "0")}`;
      const events = mapHook(payload, session.state, started, newId);
      const ended = sessionOver(payload as Record<string, unknown>);
      session.pending = [...session.pending, ...events];
      session.save(false, log);
      session.pending = await publish(session.pending, options, deadline, log);
      session.save(ended, log);
    } finally {
      session.unlock();
    }
  } catch (error) {
    if (error instanceof HookPayloadError) {
      log.write("ERROR", `bad hook payload: ${error.message} (${String(raw.length)} bytes; kept in ${String(keepRejected(options.stateDir, raw, error.message))})`);
    } else {
      log.write("ERROR", `hook failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------- settings.json --

export function isOurs(hook: unknown): boolean {
  return hook !== null && typeof hook === "object" && typeof (hook as { command?: unknown }).command === "string" && OURS.test((hook as { command: string }).command);
}

type Group = { matcher?: string; hooks?: unknown[] } & Record<string, unknown>;

function onlyOurs(group: unknown): boolean {
  const hooks = (group as Group | null)?.hooks;
  return Array.isArray(hooks) && hooks.length > 0 && hooks.every(isOurs);
}

function withoutOurs(groups: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const group of groups) {
    const hooks = (group as Group | null)?.hooks;
    if (Array.isArray(hooks)) {
      const kept = hooks.filter((h) => !isOurs(h));
      if (kept.length !== hooks.length) {
        if (kept.length > 0) out.push({ ...(group as Group), hooks: kept });
        continue;
      }
    }
    out.push(group);
  }
  return out;
}

/** The settings object of `path` ({} when there is none); throws with a reason when unusable. */
export function readSettings(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  if (text.trim() === "") return {};
  const settings = JSON.parse(text) as unknown;
  if (settings === null || typeof settings !== "object" || Array.isArray(settings)) throw new Error(`${path} holds no JSON object`);
  const hooks = (settings as Record<string, unknown>)["hooks"];
  if (hooks !== undefined && (hooks === null || typeof hooks !== "object" || Array.isArray(hooks))) throw new Error(`${path}: \`hooks\` is not an object`);
  for (const [event, groups] of Object.entries((hooks ?? {}) as Record<string, unknown>)) {
    if (!Array.isArray(groups)) throw new Error(`${path}: hooks.${event} is not a list`);
  }
  return settings as Record<string, unknown>;
}

/** `settings` with our hook on every documented event (as the Python CLI's `merged`). */
export function mergedSettings(settings: Record<string, unknown>, command: string, events: readonly string[] = HOOK_EVENTS): Record<string, unknown> {
  const hooks: Record<string, unknown[]> = { ...((settings["hooks"] ?? {}) as Record<string, unknown[]>) };
  for (const event of events) {
    const groups = [...(hooks[event] ?? [])];
    const entry: Group = TOOL_EVENTS.has(event) ? { matcher: "*" } : {};
    entry.hooks = [{ type: "command", command, timeout: HOOK_TIMEOUT_SECONDS }];
    const position = groups.findIndex(onlyOurs);
    hooks[event] = position < 0 ? [...withoutOurs(groups), entry] : [...withoutOurs(groups.slice(0, position)), entry, ...withoutOurs(groups.slice(position + 1))];
  }
  return { ...settings, hooks };
}

/** `settings` without any hook of ours. */
export function removedSettings(settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...settings };
  const hooks: Record<string, unknown[]> = {};
  for (const [event, groups] of Object.entries((settings["hooks"] ?? {}) as Record<string, unknown[]>)) {
    const left = withoutOurs(groups);
    if (left.length > 0) hooks[event] = left;
  }
  Reflect.deleteProperty(out, "hooks");
  if (Object.keys(hooks).length > 0) out["hooks"] = hooks;
  return out;
}

export function settingsPath(scope: string, projectDir: string = process.cwd()): string {
  if (scope === "user") return join(homedir(), ".claude", "settings.json");
  return join(projectDir, ".claude", scope === "local" ? "settings.local.json" : "settings.json");
}

/** Installs or removes our hooks in `path`; writes only on a change. Returns whether it wrote. */
export function changeSettings(path: string, action: "install" | "uninstall", command: string): boolean {
  const before = readSettings(path);
  const after = action === "install" ? mergedSettings(before, command) : removedSettings(before);
  if (JSON.stringify(after) === JSON.stringify(before) && (action === "uninstall" || existsSync(path))) return false;
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${String(process.pid)}.part`;
  writeFileSync(partial, JSON.stringify(after, null, 2) + "\n");
  renameSync(partial, path);
  return true;
}
