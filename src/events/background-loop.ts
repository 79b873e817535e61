import { backoffMs, sleep } from '../write/retry.ts';
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

  /** After a failed round: count it, log it, and wait (exponential backoff from 100 ms to 10 s). */
  protected async backOff(err: unknown, message: string, log?: { warn: (obj: object, msg: string) => void }): Promise<void> {
    this.failures += 1;
    const wait = backoffMs(this.failures, 100, 10_000);
    log?.warn({ err: errorText(err), attempt: this.failures, retryInMs: wait }, message);
    await sleep(wait);
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
