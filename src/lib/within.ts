// A bounded wait. Not a bare race with a sleep: the sleep's timer stays pending after the race is
// won, and keeps the process alive until it fires (the test suite's files each lived 10 s past
// their last test that way).
/** `p`, or `onTimeout` after `ms`, whichever comes first; the timer is cleared either way. */
export async function within<T, U>(p: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<U>((r) => { timer = setTimeout(() => r(onTimeout), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}
