/**
 * Redaction of secrets before events leave the process: the rule of `swarmscope_schema.redaction`,
 * read from docs/contract/redaction.json (via contract.generated.ts) — one rule, not a fork.
 *
 * - an object's entry whose key is a secret (the key rule): its value, whatever it is, becomes
 *   `[REDACTED]`;
 * - a header pair `["Authorization", "…"]`: the second item;
 * - a `{"name": "X-Api-Key", "value": "…"}` object (two entries, `value` and one of `name`, `key`,
 *   `header`, any case): the value;
 * - every other string: the value rules, which replace only the secret part.
 * In an event the envelope is never touched; `data`, `metadata` and `performance` are walked; any
 * other top-level key is judged like any key. Python runs the patterns in RE2 on UTF-8 bytes; here
 * they are JavaScript RegExps on strings — every pattern is ASCII and test/redaction.test.ts runs
 * every case of docs/contract/redaction-cases.json through this module.
 */
import { REDACTION } from "./contract.generated.js";

export const REDACTED: string = REDACTION.redacted;
export const DEFAULT_REDACT_KEYS: readonly string[] = REDACTION.keys;
const QUANTITY_WORDS: ReadonlySet<string> = new Set(REDACTION.quantity_words);
const CHUNKS = new RegExp(REDACTION.key_split.chunks);
const PARTS = new RegExp(REDACTION.key_split.parts, "g");
const ENVELOPE: ReadonlySet<string> = new Set(REDACTION.envelope);
const SECTIONS: ReadonlySet<string> = new Set(REDACTION.sections);
const NAME_FIELDS: ReadonlySet<string> = new Set(REDACTION.name_fields);
const VALUE_FIELD: string = REDACTION.value_field;
const MIN_TEXT_LENGTH: number = REDACTION.min_text_length;
const MEMO_LIMIT = 50_000;
const TRUNCATION_MARK = (n: number): string => `…[truncated ${n} bytes]`;

/** The lower-case parts of a key, split at punctuation and camelCase boundaries. */
export function keyParts(key: string): string[] {
  const parts: string[] = [];
  for (const chunk of key.split(CHUNKS)) {
    if (chunk) for (const match of chunk.matchAll(PARTS)) parts.push(match[0].toLowerCase());
  }
  return parts;
}

function containsRun(parts: readonly string[], run: readonly string[]): boolean {
  outer: for (let i = 0; i + run.length <= parts.length; i++) {
    for (let j = 0; j < run.length; j++) if (parts[i + j] !== run[j]) continue outer;
    return true;
  }
  return false;
}

/** Decides whether the value under a key is a secret (keys.py). */
export class KeyMatcher {
  private readonly patterns: string[][];
  private readonly memo = new Map<string, boolean>();

  constructor(patterns: readonly string[] = DEFAULT_REDACT_KEYS) {
    this.patterns = patterns.map(keyParts).filter((p) => p.length > 0);
  }

  get enabled(): boolean {
    return this.patterns.length > 0;
  }

  isSecret(key: string): boolean {
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    const parts = keyParts(key);
    const secret =
      parts.length > 0 &&
      !QUANTITY_WORDS.has(parts[0] as string) &&
      !QUANTITY_WORDS.has(parts[parts.length - 1] as string) &&
      this.patterns.some((pattern) => containsRun(parts, pattern));
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(key, secret);
    return secret;
  }

  /** The longest part of each pattern: a key that matches the pattern contains it whole. */
  anchorWords(): string[] {
    return this.patterns.map((p) => p.reduce((a, b) => (b.length > a.length ? b : a)));
  }
}

interface Rule {
  kind: "secret" | "key_value";
  regex: RegExp;
  /** key_value rules: the value, matched where `regex`'s match ends (sticky). */
  value: RegExp | undefined;
}

export interface RedactorOptions {
  /** Secret-key patterns (default: the contract's); empty turns the key rule off. */
  keys: readonly string[] | undefined;
  /** The value rules on strings. */
  values: boolean;
  /** Truncate longer strings of `data` (marked) after redaction. */
  maxValueBytes: number | undefined;
}

export interface Prepared {
  payload: string;
  redacted: number;
  truncated: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Replaces secrets by `[REDACTED]`; see the module comment. */
export class Redactor {
  readonly keys: KeyMatcher;
  private readonly rules: Rule[];
  private readonly prefilter: RegExp[];
  private readonly maxValueBytes: number | undefined;

  constructor(options: RedactorOptions) {
    this.keys = new KeyMatcher(options.keys ?? DEFAULT_REDACT_KEYS);
    this.maxValueBytes = options.maxValueBytes;
    this.rules = [];
    for (const pattern of REDACTION.value_patterns) {
      if (!options.values) break;
      // `d`: match indices, so the secret group's exact offsets are known.
      const flags = "gd" + (pattern.flags.includes("i") ? "i" : "");
      if (pattern.kind === "secret") {
        this.rules.push({ kind: "secret", regex: new RegExp(pattern.pattern, flags), value: undefined });
      } else if (this.keys.enabled && "value" in pattern) {
        this.rules.push({
          kind: "key_value",
          regex: new RegExp(pattern.pattern, flags),
          value: new RegExp(pattern.value, "yd" + (pattern.flags.includes("i") ? "i" : "")),
        });
      }
    }
    // A necessary condition for anything to change: a key rule needs an anchor word somewhere; a
    // secret rule must match somewhere. A clean event is then sent as it is, unparsed.
    const words = this.keys.enabled ? this.keys.anchorWords() : [];
    this.prefilter = [
      ...(words.length > 0 ? [new RegExp(words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "i")] : []),
      ...this.rules.filter((r) => r.kind === "secret").map((r) => new RegExp(r.regex.source, r.regex.flags.replace(/[gd]/g, ""))),
    ];
  }

  /** False when neither the key rule nor any value rule is on. */
  get enabled(): boolean {
    return this.prefilter.length > 0;
  }

  mayHoldSecrets(text: string): boolean {
    return this.prefilter.some((regex) => regex.test(text));
  }

  /** `text` with the value rules applied, and how many secrets were replaced. */
  redactText(text: string): [string, number] {
    if (this.rules.length === 0 || text.length < MIN_TEXT_LENGTH) return [text, 0];
    let total = 0;
    for (const rule of this.rules) {
      const [out, count] = rule.kind === "key_value" ? this.replaceValues(rule, text) : replaceSecrets(rule.regex, text);
      text = out;
      total += count;
    }
    return [text, total];
  }

  private replaceValues(rule: Rule, text: string): [string, number] {
    const value = rule.value as RegExp;
    const pieces: string[] = [];
    let last = 0;
    let resume = 0;
    let count = 0;
    rule.regex.lastIndex = 0;
    for (const match of text.matchAll(rule.regex)) {
      const start = match.index;
      if (start < resume) continue; // inside a value already replaced
      const key = match[1];
      if (key === undefined || !this.keys.isSecret(key)) continue;
      value.lastIndex = start + match[0].length;
      const found = value.exec(text);
      if (found === null) continue;
      resume = value.lastIndex;
      const span = found.indices?.[1];
      if (span === undefined) continue;
      const [secretStart, secretEnd] = span;
      const secret = text.slice(secretStart, secretEnd);
      if (secret.length === 0 || secret === REDACTED) continue;
      pieces.push(text.slice(last, secretStart), REDACTED);
      last = secretEnd;
      count += 1;
    }
    if (count === 0) return [text, 0];
    pieces.push(text.slice(last));
    return [pieces.join(""), count];
  }

  /** Redacts a JSON object or array in place, at any depth; returns how many were replaced. */
  redact(value: Json, text = true): number {
    if (value === null || typeof value !== "object") return 0;
    let count = 0;
    const stack: (Json[] | { [key: string]: Json })[] = [value];
    while (stack.length > 0) {
      const node = stack.pop() as Json[] | { [key: string]: Json };
      if (!Array.isArray(node)) {
        const keys = Object.keys(node);
        if (keys.length === 2) count += this.nameValuePair(node, keys);
        for (const key of keys) {
          const child = node[key] as Json;
          if (this.keys.isSecret(key)) {
            if (child !== REDACTED) {
              node[key] = REDACTED;
              count += 1;
            }
          } else if (text && typeof child === "string") {
            const [out, found] = this.redactText(child);
            if (found) {
              node[key] = out;
              count += found;
            }
          } else if (child !== null && typeof child === "object") {
            stack.push(child);
          }
        }
      } else {
        const [first, second] = node;
        if (node.length === 2 && typeof first === "string" && (second === null || typeof second !== "object") && this.keys.isSecret(first)) {
          if (second !== REDACTED) {
            node[1] = REDACTED;
            count += 1;
          }
          continue;
        }
        node.forEach((child, index) => {
          if (text && typeof child === "string") {
            const [out, found] = this.redactText(child);
            if (found) {
              node[index] = out;
              count += found;
            }
          } else if (child !== null && typeof child === "object") {
            stack.push(child);
          }
        });
      }
    }
    return count;
  }

  private nameValuePair(node: { [key: string]: Json }, keys: readonly string[]): number {
    let valueKey: string | undefined;
    let name: string | undefined;
    for (const key of keys) {
      const lowered = key.toLowerCase();
      const child = node[key];
      if (lowered === VALUE_FIELD) valueKey = key;
      else if (NAME_FIELDS.has(lowered) && typeof child === "string") name = child;
    }
    if (valueKey === undefined || name === undefined || !this.keys.isSecret(name) || node[valueKey] === REDACTED) return 0;
    node[valueKey] = REDACTED;
    return 1;
  }

  /** Redacts an event in place (envelope untouched); returns how many were replaced. */
  redactEvent(event: { [key: string]: Json }, text = true): number {
    let count = 0;
    for (const key of Object.keys(event)) {
      if (ENVELOPE.has(key)) continue;
      const value = event[key] as Json;
      if (!SECTIONS.has(key) && this.keys.isSecret(key)) {
        if (value !== REDACTED) {
          event[key] = REDACTED;
          count += 1;
        }
      } else if (typeof value === "string") {
        if (text) {
          const [out, found] = this.redactText(value);
          if (found) {
            event[key] = out;
            count += found;
          }
        }
      } else {
        count += this.redact(value, text);
      }
    }
    return count;
  }

  /**
   * The wire text of one encoded event: redacted (only walked when the prefilter says it may hold
   * a secret) and, with `maxValueBytes`, long strings of `data` cut and marked — redaction first,
   * so a cut never leaves half a secret.
   */
  prepare(payload: string): Prepared {
    let event: { [key: string]: Json } | undefined;
    let redacted = 0;
    if (this.enabled && this.mayHoldSecrets(payload)) {
      event = JSON.parse(payload) as { [key: string]: Json };
      redacted = this.redactEvent(event);
      if (redacted === 0 && this.maxValueBytes === undefined) return { payload, redacted, truncated: false };
    }
    let truncated = false;
    if (this.maxValueBytes !== undefined) {
      event ??= JSON.parse(payload) as { [key: string]: Json };
      const data = event["data"];
      const cut = data !== undefined ? truncate(data, this.maxValueBytes) : undefined;
      if (cut !== undefined && cut.bytes > 0) {
        const meta = (event["metadata"] !== null && typeof event["metadata"] === "object" && !Array.isArray(event["metadata"]) ? event["metadata"] : {});
        meta["truncated"] = true;
        meta["truncated_bytes"] = (typeof meta["truncated_bytes"] === "number" ? meta["truncated_bytes"] : 0) + cut.bytes;
        event["metadata"] = meta;
        event["data"] = cut.value;
        truncated = true;
      }
    }
    if (event === undefined || (redacted === 0 && !truncated)) return { payload, redacted, truncated };
    return { payload: JSON.stringify(event), redacted, truncated };
  }
}

function replaceSecrets(regex: RegExp, text: string): [string, number] {
  const pieces: string[] = [];
  let last = 0;
  let count = 0;
  regex.lastIndex = 0;
  for (const match of text.matchAll(regex)) {
    // The secret is group 1 when the pattern has one and it took part, else the whole match.
    const [start, end] = match.indices?.[1] ?? [match.index, match.index + match[0].length];
    const secret = text.slice(start, end);
    if (!secret || secret === REDACTED) continue;
    pieces.push(text.slice(last, start), REDACTED);
    last = end;
    count += 1;
  }
  if (count === 0) return [text, 0];
  pieces.push(text.slice(last));
  return [pieces.join(""), count];
}

/** Copy on write: strings longer than `limit` UTF-8 bytes cut and marked; returns bytes cut. */
function truncate(value: Json, limit: number, depth = 200): { value: Json; bytes: number } {
  if (typeof value === "string") {
    if (value.length <= limit / 4) return { value, bytes: 0 };
    const raw = Buffer.from(value, "utf8");
    if (raw.length <= limit) return { value, bytes: 0 };
    // Back off to a character boundary (continuation bytes are 10xxxxxx).
    let end = limit;
    while (end > 0 && ((raw[end] ?? 0) & 0xc0) === 0x80) end -= 1;
    const kept = raw.subarray(0, end).toString("utf8");
    const cut = raw.length - end;
    return { value: kept + TRUNCATION_MARK(cut), bytes: cut };
  }
  if (depth <= 0 || value === null || typeof value !== "object") return { value, bytes: 0 };
  let total = 0;
  if (Array.isArray(value)) {
    let out: Json[] | undefined;
    value.forEach((child, index) => {
      const r = truncate(child, limit, depth - 1);
      if (r.bytes > 0) {
        out ??= [...value];
        out[index] = r.value;
        total += r.bytes;
      }
    });
    return { value: out ?? value, bytes: total };
  }
  let out: { [key: string]: Json } | undefined;
  for (const [key, child] of Object.entries(value)) {
    const r = truncate(child, limit, depth - 1);
    if (r.bytes > 0) {
      out ??= { ...value };
      out[key] = r.value;
      total += r.bytes;
    }
  }
  return { value: out ?? value, bytes: total };
}
