// A typed event emitter small enough for a browser bundle: `on` returns its own unsubscribe, so a
// React effect can return it as its cleanup.

export type Listener<Payload> = (payload: Payload) => void

/** The emitting side alone: what a part of a client that announces some of its events needs. */
export interface EventSink<Events extends object> {
  emit<Type extends keyof Events>(type: Type, payload: Events[Type]): void
}

export class Emitter<Events extends object> implements EventSink<Events> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()

  on<Type extends keyof Events> (type: Type, listener: Listener<Events[Type]>): () => void {
    let listeners = this.#listeners.get(type)
    if (listeners === undefined) this.#listeners.set(type, (listeners = new Set()))
    listeners.add(listener)
    return () => this.off(type, listener)
  }

  off<Type extends keyof Events> (type: Type, listener: Listener<Events[Type]>): void {
    this.#listeners.get(type)?.delete(listener)
  }

  emit<Type extends keyof Events> (type: Type, payload: Events[Type]): void {
    const listeners = this.#listeners.get(type) as Set<Listener<Events[Type]>> | undefined
    // A copy, so that a listener that unsubscribes (or subscribes another) does not change this round.
    for (const listener of [...(listeners ?? [])]) listener(payload)
  }
}
