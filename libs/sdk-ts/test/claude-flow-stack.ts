/**
 * A real local swarmscope for the integration tests (nats-server, ingest, store, replay and gateway
 * as processes): libs/service's LocalStack, run by the repository's Python in a child process that
 * prints the URLs once every service is ready and stops the stack when its stdin closes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { repoRoot } from "./support/paths.js";

const SCRIPT = `
import json, sys
from pathlib import Path
from swarmscope_dev.stack import LocalStack
env = json.loads(sys.argv[2])
with LocalStack(data_dir=Path(sys.argv[1]), env=env) as stack:
    print(json.dumps({"gateway_url": stack.gateway_url, "nats_url": stack.nats_url}), flush=True)
    sys.stdin.read()
`;

export class Stack {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly gatewayUrl: string,
    readonly natsUrl: string,
    readonly apiKey: string | undefined,
  ) {}

  static async start(apiKey?: string): Promise<Stack> {
    const python = join(repoRoot(), ".venv", "bin", "python");
    if (!existsSync(python)) throw new Error(`${python} not found: run \`uv sync --all-packages\` at the repository root`);
    const dir = mkdtempSync(join(tmpdir(), "swarmscope-sdk-ts-stack-"));
    const env: Record<string, string> = { SWARMSCOPE_DEMO: "0" };
    if (apiKey !== undefined) env["SWARMSCOPE_API_KEYS"] = apiKey;
    const child = spawn(python, ["-c", SCRIPT, dir, JSON.stringify(env)], {
      cwd: repoRoot(),
      stdio: ["pipe", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolveLine, reject) => {
      lines.once("line", resolveLine);
      child.once("exit", (code) => { reject(new Error(`the local stack exited (${code}) before it was ready`)); });
    });
    const urls = JSON.parse(first) as { gateway_url: string; nats_url: string };
    return new Stack(child, dir, urls.gateway_url, urls.nats_url, apiKey);
  }

  async get<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
    const url = new URL(`/api/v1${path}`, this.gatewayUrl);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
    const headers: Record<string, string> = this.apiKey !== undefined ? { authorization: `Bearer ${this.apiKey}` } : {};
    const response = await fetch(url, { headers });
    if (!response.ok) throw new Error(`GET ${url.pathname}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  /** The stored events of a session in seq order (up to 1000), or [] while it does not exist. */
  async events(sessionId: string): Promise<StoredEvent[]> {
    try {
      return (await this.get<{ items: StoredEvent[] }>(`/sessions/${sessionId}/events`, { limit: 1000 })).items;
    } catch {
      return [];
    }
  }

  /** Polls until `count` events of the session are stored (the bound only stops a hang). */
  async waitForEvents(sessionId: string, count: number, timeoutMs = 60_000): Promise<StoredEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = await this.events(sessionId);
      if (events.length >= count) return events;
      if (Date.now() > deadline) throw new Error(`${sessionId}: ${events.length} of ${count} events stored`);
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolveExit) => this.child.once("exit", () => { resolveExit(); }));
    this.child.stdin?.end();
    await exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface StoredEvent {
  seq: number;
  id: string;
  timestamp: number;
  session_id: string;
  agent_id?: string;
  type: string;
  phase: string;
  span_id?: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  performance?: Record<string, unknown>;
}
