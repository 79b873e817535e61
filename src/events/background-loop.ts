import { Doorbell } from './doorbell.ts';

/**
 * A loop a process runs in the background until stop(): the outbox relay, the webhook
 * delivery worker, the audit sealer. Woken early by its doorbell; stop() rings it and waits
 * for the round in flight to finish.
 */
export abstract class BackgroundLoop {
  readonly doorbell: Doorbell;
  protected stopping = false;
  /** Consecutive failed rounds (for backoff). */
  protected failures = 0;
  private running: Promise<void> | undefined;

  constructor(doorbell?: Doorbell) {
    this.doorbell = doorbell ?? new Doorbell();
  }

  start(): this {
    this.stopping = false;
    this.running ??= this.loop();
    return this;
  }

  /** Lets the round in flight finish, then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.doorbell.ring();
    await this.running;
    this.running = undefined;
  }

  protected abstract loop(): Promise<void>;
}
