// Live data: a typed subscription consumed until the component unmounts (no polling).
import { useEffect } from 'preact/hooks';

export function useSubscription<T>(
  open: () => AsyncIterableIterator<T> | null,
  onValue: (v: T) => void,
  deps: unknown[],
  onError?: (e: unknown) => void,
) {
  useEffect(() => {
    const it = open();
    if (!it) return;
    let live = true;
    void (async () => {
      try {
        for await (const v of it) if (live) onValue(v);
      } catch (e) {
        if (live) onError?.(e);
      }
    })();
    return () => {
      live = false;
      void it.return?.();
    };
  }, deps);
}

/** Calls `fn` at most once per `ms`, trailing (bursts of pushes cost one re-query). */
export function coalesce(fn: () => void, ms = 150) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}
