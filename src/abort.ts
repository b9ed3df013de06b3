// Abort and timing helpers shared by the client, the trigger, the download action and the SQS
// consumer. Web-standard only (AbortSignal, setTimeout).

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    if (signal?.aborted) stop();
    else signal?.addEventListener("abort", stop);
  });

/**
 * A signal that aborts when either does. AbortSignal.any is missing on older runtimes (Node 18,
 * some embedded engines); the fallback keeps a listener on each input signal.
 */
export const anySignal = (first: AbortSignal, second: AbortSignal): AbortSignal => {
  if (AbortSignal.any) return AbortSignal.any([first, second]);
  const combined = new AbortController();
  for (const signal of [first, second]) {
    if (signal.aborted) combined.abort(signal.reason);
    else signal.addEventListener("abort", () => combined.abort(signal.reason));
  }
  return combined.signal;
};
