import type { Json, JsonObject, StoredEvent } from '../api/types';

/**
 * What an LLM call said and what a tool call ran, read from the events of its span. Producers
 * shape these payloads many ways (a prompt string, a messages array of the OpenAI or Anthropic
 * kind, content as parts, OpenTelemetry GenAI attributes); everything is reduced to text, which
 * the view renders as text nodes only.
 */
export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: Role;
  text: string;
  name?: string;
  toolCalls?: { name: string; args: string }[];
}

export interface LlmConversation {
  model: string | null;
  messages: ChatMessage[];
  inputTokens: number | null;
  outputTokens: number | null;
  cost: number | null;
  durationMs: number | null;
  error: string | null;
  open: boolean;
}

export interface TerminalRun {
  tool: string;
  command: string;
  exitCode: number | null;
  output: string;
  error: string | null;
  durationMs: number | null;
  open: boolean;
}

function isObj(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function num(v: Json | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** JSON text that holds a structure (OTel attributes carry messages as JSON strings). */
function parsed(v: Json | undefined): Json | undefined {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (!(t.startsWith('[') || t.startsWith('{'))) return v;
  try {
    return JSON.parse(t) as Json;
  } catch {
    return v;
  }
}

function pretty(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v, null, 2);
}

const ROLES: Record<string, Role> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  human: 'user',
  assistant: 'assistant',
  ai: 'assistant',
  model: 'assistant',
  tool: 'tool',
  function: 'tool',
  tool_result: 'tool',
};

function roleOf(v: Json | undefined, fallback: Role): Role {
  return typeof v === 'string' ? (ROLES[v.toLowerCase()] ?? fallback) : fallback;
}

/** The text of message content: a string, or parts (text, tool use, tool result) joined. */
function contentText(v: Json | undefined, calls: { name: string; args: string }[]): string {
  v = parsed(v);
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const part of v) {
      if (typeof part === 'string') out.push(part);
      else if (isObj(part)) {
        const type = typeof part.type === 'string' ? part.type : '';
        if (type === 'tool_use' || type === 'tool_call') {
          calls.push({ name: String(part.name ?? 'tool'), args: pretty(part.input ?? part.arguments) });
        } else if (typeof part.text === 'string') out.push(part.text);
        else if (typeof part.content === 'string') out.push(part.content);
        else if (part.content !== undefined) out.push(contentText(part.content, calls));
        else out.push(pretty(part));
      }
    }
    return out.join('\n');
  }
  if (isObj(v)) {
    if (typeof v.text === 'string') return v.text;
    if (v.content !== undefined) return contentText(v.content, calls);
    return pretty(v);
  }
  return String(v);
}

function message(v: Json, fallback: Role): ChatMessage | null {
  if (typeof v === 'string') return { role: fallback, text: v };
  if (!isObj(v)) return null;
  const calls: { name: string; args: string }[] = [];
  const text = contentText(v.content ?? v.parts ?? v.text, calls);
  const toolCalls = Array.isArray(v.tool_calls) ? v.tool_calls : [];
  for (const c of toolCalls) {
    if (!isObj(c)) continue;
    const fn = isObj(c.function) ? c.function : c;
    calls.push({ name: String(fn.name ?? 'tool'), args: pretty(parsed(fn.arguments ?? fn.input)) });
  }
  const out: ChatMessage = { role: roleOf(v.role, fallback), text };
  if (typeof v.name === 'string') out.name = v.name;
  if (calls.length) out.toolCalls = calls;
  return out.text || out.toolCalls ? out : null;
}

function messages(v: Json | undefined, fallback: Role): ChatMessage[] {
  v = parsed(v);
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v ? [{ role: fallback, text: v }] : [];
  if (Array.isArray(v)) return v.flatMap((m) => message(m, fallback) ?? []);
  if (isObj(v)) {
    if (Array.isArray(v.messages)) return messages(v.messages, fallback);
    if (Array.isArray(v.choices)) return v.choices.flatMap((c) => (isObj(c) ? messages(c.message ?? c.text, 'assistant') : []));
    const m = message(v, fallback);
    return m ? [m] : [];
  }
  return [{ role: fallback, text: String(v) }];
}

/** The conversation of an LLM call from its span's events (start: the prompt, end: the answer). */
export function llmConversation(events: readonly StoredEvent[]): LlmConversation | null {
  const calls = events.filter((e) => e.type === 'llm_call');
  if (!calls.length) return null;
  const system: ChatMessage[] = [];
  const input: ChatMessage[] = [];
  const output: ChatMessage[] = [];
  let model: string | null = null;
  let inputTokens: number | null = null;
  let outputTokens: number | null = null;
  let cost: number | null = null;
  let durationMs: number | null = null;
  let error: string | null = null;
  let closed = false;
  for (const ev of calls) {
    const d = ev.data ?? {};
    const p = ev.performance ?? {};
    model = (typeof d.model === 'string' ? d.model : null) ?? model;
    if (!system.length) system.push(...messages(d.system ?? d.system_prompt ?? d['gen_ai.system_instructions'], 'system').map((m) => ({ ...m, role: 'system' as Role })));
    if (!input.length) input.push(...messages(d.messages ?? d.prompt ?? d.input ?? d['gen_ai.input.messages'] ?? d['gen_ai.prompt'], 'user'));
    const answer = messages(d.response ?? d.completion ?? d.output ?? d.choices ?? d['gen_ai.output.messages'] ?? d['gen_ai.completion'], 'assistant');
    if (answer.length) output.splice(0, output.length, ...answer);
    inputTokens = num(d.input_tokens) ?? num(p.input_tokens) ?? inputTokens;
    outputTokens = num(d.output_tokens) ?? num(p.output_tokens) ?? outputTokens;
    cost = num(d.cost_usd) ?? num(p.cost_usd) ?? cost;
    durationMs = num(p.duration) ?? durationMs;
    if (ev.phase === 'error' || d.error !== undefined) error = pretty(d.error) || error || 'failed';
    if ((ev.phase ?? 'complete') === 'complete' || ev.phase === 'error') closed = true;
  }
  const first = calls[0] as StoredEvent;
  const last = calls[calls.length - 1] as StoredEvent;
  if (durationMs === null && closed && calls.length > 1) durationMs = last.timestamp - first.timestamp;
  // A system message inside the messages array stays where it is; one given apart goes first.
  const all = [...system.filter((s) => !input.some((m) => m.role === 'system' && m.text === s.text)), ...input, ...output];
  return { model, messages: all, inputTokens, outputTokens, cost, durationMs, error, open: !closed };
}

const COMMAND_KEYS = ['command', 'cmd', 'script', 'code', 'query', 'file_path', 'path', 'url', 'pattern'];

/** A tool call as a terminal run: the command, its exit code and its output. */
export function terminalRun(events: readonly StoredEvent[]): TerminalRun | null {
  const calls = events.filter((e) => e.type === 'tool_call');
  if (!calls.length) return null;
  let tool = 'tool';
  let command = '';
  let exitCode: number | null = null;
  const output: string[] = [];
  let error: string | null = null;
  let durationMs: number | null = null;
  let closed = false;
  for (const ev of calls) {
    const d = ev.data ?? {};
    if (typeof d.tool === 'string') tool = d.tool;
    const args = parsed(d.args ?? d.input ?? d.arguments);
    if (!command && args !== undefined) {
      if (typeof args === 'string') command = args;
      else if (isObj(args)) {
        const key = COMMAND_KEYS.find((k) => typeof args[k] === 'string');
        command = key ? `${key === 'command' || key === 'cmd' || key === 'script' ? '' : `${tool} `}${String(args[key])}` : `${tool} ${JSON.stringify(args)}`;
      } else command = `${tool} ${JSON.stringify(args)}`;
    }
    exitCode = num(d.exit_code) ?? num(d.exitCode) ?? exitCode;
    for (const key of ['stdout', 'result', 'output', 'stderr']) {
      const v = d[key];
      if (v !== undefined && v !== null && v !== '') output.push(pretty(v));
    }
    if (d.error !== undefined && d.error !== null) error = pretty(d.error);
    durationMs = num(ev.performance?.duration) ?? durationMs;
    if ((ev.phase ?? 'complete') === 'complete' || ev.phase === 'error') closed = true;
    if (ev.phase === 'error' && !error) error = 'failed';
  }
  return { tool, command: command || tool, exitCode, output: output.join('\n'), error, durationMs, open: !closed };
}
