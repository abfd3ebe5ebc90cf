import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';

export interface AsyncState<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.status ? `${err.message} (${err.code}, HTTP ${err.status})` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Runs `fn` whenever `deps` change; only the latest call's answer is kept (a fast cursor never shows
 * a stale state). Keeps the previous data while the next request is in flight, so panels don't flash.
 */
export function useLatest<T>(fn: ((signal: AbortSignal) => Promise<T>) | null, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<AsyncState<T>>({ data: null, error: null, loading: false });
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    const f = fnRef.current;
    if (!f) {
      setState({ data: null, error: null, loading: false });
      return;
    }
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | null = null;
    let delay = 1000;
    setState((s) => ({ ...s, loading: true }));
    const run = () => {
      f(ctl.signal).then(
        (data) => {
          if (!ctl.signal.aborted) setState({ data, error: null, loading: false });
        },
        (err: unknown) => {
          if (ctl.signal.aborted || (err instanceof DOMException && err.name === 'AbortError')) return;
          // A service restarting or catching up answers 502/503/504 (or not at all): say so, and
          // try again with backoff instead of leaving the panel empty.
          if (isTransient(err) && delay <= 16_000) {
            setState((s) => ({ ...s, error: `${errorText(err)} — retrying in ${delay / 1000} s`, loading: true }));
            timer = setTimeout(run, delay);
            delay *= 2;
            return;
          }
          setState({ data: null, error: errorText(err), loading: false });
        },
      );
    };
    run();
    return () => {
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

export function isTransient(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504);
}

/** A value that follows `value` but at most every `ms` (trailing edge): rate-limits live refetches. */
export function useThrottled<T>(value: T, ms: number): T {
  const [out, setOut] = useState(value);
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    const now = Date.now();
    const wait = last.current + ms - now;
    if (wait <= 0) {
      last.current = now;
      setOut(value);
      return;
    }
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      last.current = Date.now();
      setOut(value);
    }, wait);
    return () => {
      if (timer.current) clearTimeout(timer.current);
    };
  }, [value, ms]);
  return out;
}
