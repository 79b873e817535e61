/**
 * A wake-up hint: ring() ends the current (or next) wait early. Losing a ring is harmless,
 * since every waiter also wakes on its poll interval.
 */
export class Doorbell {
  private rung = false;
  private waiters: (() => void)[] = [];

  ring(): void {
    this.rung = true;
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }

  /** Resolves on the next ring (or at once if one came since the last wait), or after ms. */
  wait(ms: number): Promise<void> {
    if (this.rung) {
      this.rung = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        this.rung = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }
}
