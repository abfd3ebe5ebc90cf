/**
 * The contract's field-spec language (swarmscope_schema.aliases, docs/contract/aliases.json): where
 * each canonical field of an event is found in a Claude-Flow payload. One small interpreter, the
 * twin of the Python `resolve_field` / `adapt`, so ingest and this package read the same rules
 * (`test/claude-flow.test.ts` runs both on the same payloads through the real store).
 *
 * - a spec is a list of paths (`"task.id"`, `"agentIds.0"`); the first value that is not null or
 *   undefined wins; `"$data"` is a copy of the whole payload;
 * - or `{paths, default, text, list}`;
 * - or `{object: {field: spec}, merge: path, defaults: {...}}`: a nested object.
 */

/** A JSON-like value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type FieldSpec =
  | readonly string[]
  | {
      readonly paths?: readonly string[];
      readonly default?: unknown;
      readonly text?: boolean;
      readonly list?: boolean;
      readonly object?: Readonly<Record<string, FieldSpec>>;
      readonly merge?: string;
      readonly defaults?: Readonly<Record<string, unknown>>;
    };

/** One alias rule of aliases.json: the canonical type, the field specs and the constants. */
export interface AliasRule {
  readonly type: string;
  readonly fields?: Readonly<Record<string, FieldSpec>>;
  readonly constants?: Readonly<Record<string, unknown>>;
}

export const WHOLE_PAYLOAD = "$data";

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function present(value: unknown): boolean {
  return value !== null && value !== undefined;
}

/** The value at a dotted path of `data` (digits index lists), or undefined. */
export function lookup(data: unknown, path: string): unknown {
  if (path === WHOLE_PAYLOAD) return isObject(data) ? { ...data } : data;
  let value: unknown = data;
  for (const part of path.split(".")) {
    if (isObject(value)) value = value[part];
    else if (Array.isArray(value) && /^\d+$/.test(part)) value = value[Number(part)];
    else return undefined;
  }
  return value;
}

function asText(value: unknown): string {
  // JSON.stringify is the text Python's json.dumps(separators=(",", ":")) gives for the same value.
  if (typeof value === "string") return value;
  const encoded = JSON.stringify(value) as string | undefined;
  return encoded ?? String(value);
}

/** The value a field spec finds in `data`, or undefined. */
export function resolveField(spec: FieldSpec, data: unknown): unknown {
  if (Array.isArray(spec)) {
    for (const path of spec as readonly string[]) {
      const value = lookup(data, path);
      if (present(value)) return value;
    }
    return undefined;
  }
  const rule = spec as Exclude<FieldSpec, readonly string[]>;
  if (rule.object !== undefined) {
    let built: Record<string, unknown> = {};
    for (const [key, sub] of Object.entries(rule.object)) {
      const value = resolveField(sub, data);
      if (present(value)) built[key] = value;
    }
    const merge = rule.merge !== undefined ? lookup(data, rule.merge) : undefined;
    if (isObject(merge)) built = { ...built, ...merge };
    for (const [key, fallback] of Object.entries(rule.defaults ?? {})) {
      if (!present(built[key])) built[key] = fallback;
    }
    for (const [key, sub] of Object.entries(rule.object)) {
      if (!Array.isArray(sub) && (sub as { list?: boolean }).list && key in built && !Array.isArray(built[key])) {
        built[key] = [built[key]];
      }
    }
    return built;
  }
  let value = resolveField(rule.paths ?? [], data);
  if (!present(value)) value = rule.default;
  if (!present(value)) return undefined;
  if (rule.text) value = asText(value);
  if (rule.list && !Array.isArray(value)) value = [value];
  return value;
}

/** The canonical payload of `data` under `rule`: the producer's keys plus the canonical ones. */
export function adapt(rule: AliasRule, data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  for (const [key, spec] of Object.entries(rule.fields ?? {})) {
    if (!Array.isArray(spec) && (spec as { object?: unknown }).object !== undefined) {
      out[key] = resolveField(spec, data);
      continue;
    }
    if (present(out[key])) continue;
    const value = resolveField(spec, data);
    if (present(value)) out[key] = value;
  }
  for (const [key, value] of Object.entries(rule.constants ?? {})) {
    if (!(key in out)) out[key] = value;
  }
  return out;
}

const MAX_DEPTH = 200;

/**
 * A JSON-ready copy of a payload as Claude-Flow hands it over: `Date` → ISO text, `Error` →
 * `{type, message, stack}`, `Map` → object, `Set` → list, `bigint` → text, functions and
 * `undefined` left out, cycles → `"[cycle]"`. Values are never cut: replay needs them whole.
 */
export function plain(value: unknown, depth = MAX_DEPTH, seen: Set<object> = new Set()): Json | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    default:
      break;
  }
  const object = value;
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? null : object.toISOString();
  if (depth <= 0) return "[too deep]";
  if (seen.has(object)) return "[cycle]";
  seen.add(object);
  try {
    if (object instanceof Error) {
      const described: JsonObject = { type: object.name || "Error", message: object.message };
      if (object.stack !== undefined) described.stack = object.stack;
      for (const [key, child] of Object.entries(object)) {
        const converted = plain(child, depth - 1, seen);
        if (converted !== undefined) described[key] = converted;
      }
      return described;
    }
    if (Array.isArray(object) || object instanceof Set) {
      return Array.from(object as Iterable<unknown>, (item) => plain(item, depth - 1, seen) ?? null);
    }
    const entries: Iterable<[unknown, unknown]> =
      object instanceof Map ? object.entries() : Object.entries(object as Record<string, unknown>);
    const out: JsonObject = {};
    for (const [key, child] of entries) {
      const converted = plain(child, depth - 1, seen);
      if (converted !== undefined) out[String(key)] = converted;
    }
    return out;
  } finally {
    seen.delete(object);
  }
}
