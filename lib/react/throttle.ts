// Renders under load: a DAG that changes a hundred times a second need not be drawn a hundred times.

/** A callback that runs at most once per `intervalMs`: at once after a quiet spell, else at the end of the interval. */
export interface Throttled {
  call (): void
  /** Drops a call that waits for the end of its interval. */
  cancel (): void
}

export function throttle (callback: () => void, intervalMs: number): Throttled {
  let last = Number.NEGATIVE_INFINITY
  let timer: ReturnType<typeof setTimeout> | undefined
  const run = () => {
    timer = undefined
    last = performance.now()
    callback()
  }
  return {
    call () {
      // One call already waits: it will show this change too, since it reads the latest state.
      if (timer !== undefined) return
      const wait = last + intervalMs - performance.now()
      if (wait <= 0) run()
      else timer = setTimeout(run, wait)
    },
    cancel () {
      clearTimeout(timer)
      timer = undefined
    }
  }
}
