/**
 * Where a session came from (SessionSummary.source, contract v1.1): its first event's
 * metadata.source, else "nats". Producers may use tokens of their own: those show as they are.
 */
export interface SourceStyle {
  label: string;
  title: string;
}

const KNOWN: Record<string, SourceStyle> = {
  'sdk-python': { label: 'SDK · py', title: 'swarmscope Python SDK' },
  'sdk-ts': { label: 'SDK · ts', title: 'swarmscope TypeScript SDK' },
  otlp: { label: 'OTLP', title: 'OpenTelemetry exporter (POST /v1/traces)' },
  'claude-code': { label: 'Claude Code', title: 'Claude Code hooks' },
  http: { label: 'HTTP', title: 'POST /api/v1/ingest' },
  import: { label: 'import', title: 'imported JSONL (POST /api/v1/import)' },
  nats: { label: 'NATS', title: 'published straight to NATS' },
};

export function sourceStyle(source: string | null | undefined): SourceStyle {
  const token = (source ?? '').trim() || 'nats';
  return KNOWN[token] ?? { label: token, title: `source: ${token}` };
}

/** A CSS-class-safe form of the token (an unknown producer's token is free text). */
export function sourceClass(source: string | null | undefined): string {
  const token = (source ?? '').trim() || 'nats';
  return `source-${token.replace(/[^a-z0-9-]/gi, '_')}`;
}
