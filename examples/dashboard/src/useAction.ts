// A user action that talks to the server: disables its buttons while in flight and keeps the refusal
// message (an `error` frame from the engine) to show next to them.
import { useCallback, useState } from 'react'

export function useAction () {
  const [pending, setPending] = useState(false)
  const [error, setError] = useState<string | undefined>()
  const run = useCallback(async (action: () => Promise<unknown> | unknown) => {
    setPending(true)
    setError(undefined)
    try {
      await action()
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure))
    } finally {
      setPending(false)
    }
  }, [])
  return { run, pending, error }
}
