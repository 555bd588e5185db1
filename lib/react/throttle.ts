// Renders under load: a DAG that changes a hundred times a second need not be drawn a hundred times.
//
// The interval counts from the end of the last render, not from its start. Counted from the start, a
// render that takes longer than the interval leaves no wait at all: every change then gets its own
// full render, back to back, and the view falls further behind the stream with each one. Counted from
// the end, a slow render still leaves `intervalMs` for the changes to pile up, and the next render
// shows them all at once. React renders after the notification (in a microtask), so the hook says when
// it committed (`done`).

/** A callback that runs at most once per `intervalMs`: at once after a quiet spell, else at the end of the interval. */
export interface Throttled {
  call (): void
  /** Says the work the callback started has finished (a render committed): the interval starts now. */
  done (): void
  /** Drops a call that waits for the end of its interval. */
  cancel (): void
}

export function throttle (callback: () => void, intervalMs: number): Throttled {
  let last = Number.NEGATIVE_INFINITY
  let timer: ReturnType<typeof setTimeout> | undefined
  const run = () => {
    timer = undefined
    callback()
    last = performance.now()
  }
  return {
    call () {
      // One call already waits: it will show this change too, since it reads the latest state.
      if (timer !== undefined) return
      const wait = last + intervalMs - performance.now()
      if (wait <= 0) run()
      else timer = setTimeout(run, wait)
    },
    done () {
      last = performance.now()
    },
    cancel () {
      clearTimeout(timer)
      timer = undefined
    }
  }
}
