// Many sockets are opened a few at a time: 5,000 SYNs at once would overflow the server's listen
// backlog (511 in Node) and measure the kernel's retransmit timer instead of the server.

/**
 * Runs `task(0)` … `task(count - 1)` with at most `concurrency` in flight; resolves when all settled.
 * A task that throws is counted, not fatal: the caller reports failures next to the figures.
 */
export async function runLimited (count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<{ failed: number; firstError?: string }> {
  let next = 0
  let failed = 0
  let firstError: string | undefined
  const worker = async () => {
    while (next < count) {
      const index = next++
      try {
        await task(index)
      } catch (error) {
        failed++
        firstError ??= error instanceof Error ? error.message : String(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker))
  return firstError === undefined ? { failed } : { failed, firstError }
}
