/**
 * Where encoded events go: JetStream (the default) or the gateway's HTTP ingest endpoint — the
 * Python SDK's `transport.py`. A transport sends a batch and says, per event, whether it was
 * accepted (`OK`), must be sent again (`RETRY`: NATS down or restarting, timeouts, 5xx, 429) or was
 * refused for good (any other string: the drop reason). Retries reuse the event's id, which the
 * pipeline's dedupe by (session_id, id) turns into exactly one stored event.
 *
 * Runs in the publisher worker thread (see publisher.ts).
 */
import { connect, createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { SDK } from "./contract.generated.js";
import { MAX_EVENT_BYTES, rawBatchMsgId, rawBatchSubject, rawMsgId, type Encoded } from "./encoding.js";

export const OK = "ok";
export const RETRY = "retry";
/** A batch body may be a little over the event limit so that any event fits alone (batches.py). */
export const MAX_BATCH_BYTES = MAX_EVENT_BYTES + 4096;
export const MAX_BATCH_MEMBERS = 1000;
const MSG_ID_HEADER = SDK.nats.msg_id_header;
// JetStream API error codes that no retry can fix (message over the stream's size limit).
const PERMANENT_JS_ERRORS = new Set([10054]);

export interface Transport {
  readonly description: string;
  lastError: string | undefined;
  /** Connects; throws when the other side is unreachable (the publisher retries). */
  connect(): Promise<void>;
  /** Sends a batch; one outcome per event: OK, RETRY or a drop reason. */
  send(batch: readonly Encoded[], timeoutMs: number): Promise<string[]>;
  /** Closes the connection; idempotent. */
  close(): Promise<void>;
}

/** A NATS message to publish: subject, body, `Nats-Msg-Id`, indexes of the events it carries. */
export interface NatsMessage {
  subject: string;
  payload: string;
  msgId: string;
  indexes: number[];
}

/**
 * [start, end) runs of consecutive events whose JSON array body is at most `limit` bytes and holds
 * at most `maxMembers` events (batches.py `batch_runs`); undefined if one event cannot fit alone.
 */
export function batchRuns(sizes: readonly number[], limit = MAX_BATCH_BYTES, maxMembers = MAX_BATCH_MEMBERS): [number, number][] | undefined {
  const runs: [number, number][] = [];
  let start = 0;
  let body = 2;
  for (let index = 0; index < sizes.length; index++) {
    const size = sizes[index] ?? 0;
    if (size + 2 > limit) return undefined;
    let grown = body + size + (index > start ? 1 : 0);
    if (index > start && (grown > limit || index - start >= maxMembers)) {
      runs.push([start, index]);
      start = index;
      grown = 2 + size;
    }
    body = grown;
  }
  if (start < sizes.length) runs.push([start, sizes.length]);
  return runs;
}

/**
 * The NATS messages of a batch. With `batches`, the events of a session go as batch messages
 * (v1.1); otherwise, and for a session with one event here, one message per event.
 */
export function natsMessages(batch: readonly Encoded[], batches = true, maxBytes = MAX_BATCH_BYTES): NatsMessage[] {
  const single = (item: Encoded, index: number): NatsMessage => ({
    subject: item.subject,
    payload: item.payload,
    msgId: rawMsgId(item.sessionId, item.eventId),
    indexes: [index],
  });
  if (!batches) return batch.map(single);
  const bySession = new Map<string, number[]>();
  batch.forEach((item, index) => {
    const list = bySession.get(item.sessionId);
    if (list === undefined) bySession.set(item.sessionId, [index]);
    else list.push(index);
  });
  const out: NatsMessage[] = [];
  for (const [sessionId, indexes] of bySession) {
    if (indexes.length === 1) {
      const index = indexes[0] as number;
      out.push(single(batch[index] as Encoded, index));
      continue;
    }
    const members = indexes.map((i) => batch[i] as Encoded);
    const runs = batchRuns(members.map((m) => Buffer.byteLength(m.payload)), maxBytes);
    if (runs === undefined) {
      // Events over the limit are dropped before they get here; anything left goes one by one.
      indexes.forEach((index) => out.push(single(batch[index] as Encoded, index)));
      continue;
    }
    for (const [start, end] of runs) {
      const run = indexes.slice(start, end);
      const first = batch[run[0] as number] as Encoded;
      const agents = new Set(run.map((i) => (batch[i] as Encoded).agentId));
      const agent = agents.size === 1 ? first.agentId : undefined;
      out.push({
        subject: rawBatchSubject(sessionId, agent),
        payload: "[" + run.map((i) => (batch[i] as Encoded).payload).join(",") + "]",
        msgId: rawBatchMsgId(sessionId, first.eventId, run.length),
        indexes: run,
      });
    }
  }
  return out;
}

interface Round {
  outcomes: string[];
  waiting: Map<string, number[]>;
  done: () => void;
  finished: Promise<void>;
}

/**
 * Pipelined JetStream publishing with `Nats-Msg-Id`; rides out NATS restarts. Each message is a
 * core publish with a reply subject under one inbox, and JetStream answers each with its PubAck
 * there; one wildcard subscription matches the acknowledgements to the batch by token — JetStream's
 * own publish protocol without a promise per message. The wait for a batch is bounded; what is not
 * acknowledged in time is retried with the same ids.
 */
export class NatsTransport implements Transport {
  readonly description: string;
  lastError: string | undefined;
  private nc: NatsConnection | undefined;
  private inbox = "";
  private generation = 0;
  private round: Round | undefined;
  private connected = false;
  private connectedWaiters: (() => void)[] = [];

  constructor(
    readonly url: string,
    private readonly name: string,
    private readonly batches: boolean,
  ) {
    this.description = `NATS ${url}`;
  }

  async connect(): Promise<void> {
    const servers = this.url.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
    const nc = await connect({
      servers,
      name: this.name,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 2000,
    });
    this.inbox = createInbox();
    // Resubscribed by the client after every reconnect.
    nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => { this.onAck(msg); } });
    this.nc = nc;
    this.setConnected(true);
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") this.setConnected(false);
      else if (status.type === "reconnect") this.setConnected(true);
      else if (status.type === "error") this.lastError = String(status.error);
    }
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    if (connected) {
      const waiters = this.connectedWaiters;
      this.connectedWaiters = [];
      waiters.forEach((w) => { w(); });
    }
  }

  private onAck(msg: Msg): void {
    const current = this.round;
    if (current === undefined) return;
    const token = msg.subject.slice(this.inbox.length + 1);
    const indexes = current.waiting.get(token);
    // An acknowledgement of an earlier, already retried attempt.
    if (indexes === undefined) return;
    current.waiting.delete(token);
    const outcome = this.outcome(msg);
    for (const index of indexes) current.outcomes[index] = outcome;
    if (current.waiting.size === 0) current.done();
  }

  private outcome(msg: Msg): string {
    if (msg.headers?.code === 503) {
      this.lastError = "no JetStream stream answers on traces.raw.> (not provisioned yet?)";
      return RETRY;
    }
    const text = msg.string();
    if (!text.includes('"error"')) return OK;
    let error: { err_code?: number } = {};
    try {
      error = ((JSON.parse(text) as { error?: { err_code?: number } }).error) ?? {};
    } catch {
      return RETRY;
    }
    this.lastError = `JetStream: ${JSON.stringify(error)}`;
    if (error.err_code !== undefined && PERMANENT_JS_ERRORS.has(error.err_code)) return "rejected";
    return RETRY;
  }

  private waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { resolve(false); }, timeoutMs);
      this.connectedWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async send(batch: readonly Encoded[], timeoutMs: number): Promise<string[]> {
    const nc = this.nc;
    if (nc === undefined) return batch.map(() => RETRY);
    // Publishing now would only fill the client's reconnect buffer; wait for the server.
    if (!this.connected && !(await this.waitConnected(timeoutMs))) return batch.map(() => RETRY);
    this.generation += 1;
    const gen = this.generation.toString(16);
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => { done = resolve; });
    const current: Round = { outcomes: batch.map(() => RETRY), waiting: new Map(), done, finished };
    this.round = current;
    try {
      natsMessages(batch, this.batches).forEach((message, number) => {
        const token = `${gen}x${number.toString(16)}`;
        current.waiting.set(token, message.indexes);
        const h = headers();
        h.set(MSG_ID_HEADER, message.msgId);
        nc.publish(message.subject, message.payload, { reply: `${this.inbox}.${token}`, headers: h });
      });
    } catch (error) {
      // What went out may still be acknowledged; the rest stays RETRY.
      this.lastError = String(error);
    }
    if (current.waiting.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([finished, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
      clearTimeout(timer);
    }
    this.round = undefined;
    return current.outcomes;
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    if (nc !== undefined && !nc.isClosed()) {
      try {
        await nc.close();
      } catch (error) {
        this.lastError = String(error);
      }
    }
  }
}

/** POSTs batches (a JSON array) to the gateway's `/api/v1/ingest`, for agents without NATS. */
export class HttpTransport implements Transport {
  readonly description: string;
  lastError: string | undefined;
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(gatewayUrl: string, apiKey: string | undefined) {
    this.url = gatewayUrl.replace(/\/+$/, "") + "/api/v1/ingest";
    this.description = `HTTP ${this.url}`;
    this.headers = { "content-type": "application/json" };
    if (apiKey) this.headers["authorization"] = `Bearer ${apiKey}`;
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  async send(batch: readonly Encoded[], timeoutMs: number): Promise<string[]> {
    const body = "[" + batch.map((item) => item.payload).join(",") + "]";
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: this.headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      this.lastError = `POST ${this.url}: ${String(error)}`;
      return batch.map(() => RETRY);
    }
    const status = response.status;
    const text = await response.text().catch(() => "");
    if (status < 300) return this.accepted(batch, text);
    if (status === 429 || status >= 500) {
      this.lastError = `HTTP ${status}: ${text.slice(0, 300)}`;
      return batch.map(() => RETRY);
    }
    if (status === 413 && batch.length > 1) {
      // Over the gateway's body limit: the halves go on their own.
      const middle = Math.floor(batch.length / 2);
      return [...(await this.send(batch.slice(0, middle), timeoutMs)), ...(await this.send(batch.slice(middle), timeoutMs))];
    }
    const reason = status === 413 ? "too_large" : "rejected";
    this.lastError =
      status === 401 || status === 403
        ? `the gateway refused the API key (HTTP ${status}): ${text.slice(0, 300)}`
        : `the gateway refused ${batch.length} events (HTTP ${status}): ${text.slice(0, 300)}`;
    console.error(`swarmscope: ${this.lastError}`);
    return batch.map(() => reason);
  }

  /** OK for each event, but for those the gateway lists as rejected (by index). */
  private accepted(batch: readonly Encoded[], text: string): string[] {
    const outcomes = batch.map(() => OK);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return outcomes;
    }
    const rejects = body !== null && typeof body === "object" ? (body as { rejects?: unknown }).rejects : undefined;
    if (!Array.isArray(rejects)) return outcomes;
    for (const reject of rejects as unknown[]) {
      const index = reject !== null && typeof reject === "object" ? (reject as { index?: unknown }).index : undefined;
      if (typeof index === "number" && Number.isInteger(index) && index >= 0 && index < batch.length) {
        outcomes[index] = "rejected";
        this.lastError = `the gateway refused event ${batch[index]?.eventId ?? "?"}: ${JSON.stringify((reject as { message?: unknown }).message)}`;
        console.error(`swarmscope: ${this.lastError}`);
      }
    }
    return outcomes;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
