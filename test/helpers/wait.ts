// Polling for a condition in tests of real processes: the limit is a generous upper bound (a
// detector, a repair), never a measured figure; the last error seen is kept for the message.
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { limitMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + options.limitMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`not within ${options.limitMs} ms: ${what} (${last})`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
