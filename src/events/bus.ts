import type { DomainEvent } from './types.ts';

export type EventHandler = (event: DomainEvent) => Promise<void> | void;

/**
 * In-process consumers of the event stream (the embedded default). The relay delivers each
 * event here after it left the outbox: at least once, in order per record. A handler that
 * throws makes the relay retry the event (every handler may then see it again).
 */
export class EventBus {
  private handlers = new Set<{ types: ReadonlySet<string> | null; fn: EventHandler }>();

  /** Subscribes to the given event types (all when omitted); returns the unsubscribe. */
  subscribe(fn: EventHandler, types?: readonly string[]): () => void {
    const entry = { types: types ? new Set(types) : null, fn };
    this.handlers.add(entry);
    return () => {
      this.handlers.delete(entry);
    };
  }

  async publish(event: DomainEvent): Promise<void> {
    for (const h of this.handlers) {
      if (h.types === null || h.types.has(event.type)) await h.fn(event);
    }
  }
}
