import { useEffect, useRef, useState, useSyncExternalStore } from 'react';

/** A tiny observable store (useSyncExternalStore): the UI's only state container. */
export class Store<S extends object> {
  private state: S;
  private readonly listeners = new Set<() => void>();

  constructor(initial: S) {
    this.state = initial;
  }

  get = (): S => this.state;

  set(patch: Partial<S> | ((s: S) => Partial<S>)): void {
    const p = typeof patch === 'function' ? patch(this.state) : patch;
    let changed = false;
    for (const k of Object.keys(p) as (keyof S)[]) {
      if (!Object.is(this.state[k], p[k])) {
        changed = true;
        break;
      }
    }
    if (!changed) return;
    this.state = { ...this.state, ...p };
    for (const l of this.listeners) l();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}

/** Subscribes a component to a slice of a store; re-renders only when that slice changes. */
export function useStore<S extends object, T>(store: Store<S>, select: (s: S) => T): T {
  return useSyncExternalStore(
    store.subscribe,
    () => select(store.get()),
    () => select(store.get()),
  );
}

/**
 * Like useStore, but re-renders at most once per `wait(prev, next)` ms (trailing edge). Heavy views
 * use it so a live stream costs them a few renders a second, while a cursor move the person made
 * (wait 0) still shows at once.
 */
export function useStoreThrottled<S extends object, T>(store: Store<S>, select: (s: S) => T, wait: (prev: S, next: S) => number): T {
  const [value, setValue] = useState(() => select(store.get()));
  const selectRef = useRef(select);
  selectRef.current = select;
  const waitRef = useRef(wait);
  waitRef.current = wait;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    let seen = store.get();
    const update = () => {
      timer = null;
      last = Date.now();
      seen = store.get();
      setValue(selectRef.current(seen));
    };
    const unsubscribe = store.subscribe(() => {
      const ms = waitRef.current(seen, store.get());
      if (ms <= 0) {
        if (timer) clearTimeout(timer);
        update();
        return;
      }
      if (timer) return;
      timer = setTimeout(update, Math.max(0, last + ms - Date.now()));
    });
    update();
    return () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }, [store]);
  return value;
}
