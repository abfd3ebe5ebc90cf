/** Redaction of secrets before events leave the process (filled in by the redaction step). */
export interface RedactorOptions {
  keys: readonly string[] | undefined;
  values: boolean;
  maxValueBytes: number | undefined;
}

export interface Prepared {
  payload: string;
  redacted: number;
  truncated: boolean;
}

export class Redactor {
  constructor(readonly options: RedactorOptions) {}

  prepare(payload: string): Prepared {
    return { payload, redacted: 0, truncated: false };
  }
}
