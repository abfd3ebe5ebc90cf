import { useCallback, useEffect, useRef, useState } from 'react';
import type { ApiClient } from '../api/client';
import type { CompiledExpression } from '../api/types';

export type Compiled = CompiledExpression;

export interface CompiledMap {
  get(expression: string): Compiled | undefined;
  /** Compiles one expression now (an Enter must not wait for the debounce); undefined when the
   * gateway could not be asked (offline: the expression is let through, and a run reports it). */
  check(expression: string): Promise<Compiled | undefined>;
}

/**
 * Breakpoint conditions and watches checked as they are typed: the gateway compiles them in
 * replay's sandbox without running them (POST /expressions/compile), 250 ms after the last key.
 * Answers are kept per expression text, so a list of saved expressions is compiled once.
 */
export function useCompiled(api: ApiClient, expressions: string[], use: 'condition' | 'watch'): CompiledMap {
  const cache = useRef(new Map<string, Compiled>());
  const [, setVersion] = useState(0);
  const key = expressions.join('\u0000');

  const compile = useCallback(
    async (list: string[], signal?: AbortSignal): Promise<void> => {
      const todo = [...new Set(list)].filter((e) => e && !cache.current.has(e)).slice(0, 20);
      if (!todo.length) return;
      const res = await api.compileExpressions(todo, use, signal);
      for (const r of res.results) cache.current.set(r.expression, r);
      setVersion((v) => v + 1);
    },
    [api, use],
  );

  useEffect(() => {
    const ctl = new AbortController();
    const t = setTimeout(() => {
      compile(expressions, ctl.signal).catch(() => undefined);
    }, 250);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, compile]);

  return {
    get: (e) => cache.current.get(e),
    check: async (e) => {
      try {
        await compile([e]);
      } catch {
        return undefined;
      }
      return cache.current.get(e);
    },
  };
}
