/**
 * `npm run test:chaos`: brings the local HA cluster up, runs the short version of every
 * chaos experiment, brings the cluster down (also on failure). Exit code 1 when a
 * hypothesis failed. Bounded: about 10 minutes on a 2-core machine.
 */
import { down, up } from '../cluster/cluster.ts';
import { chaosMain } from './cli.ts';
import { keepEvidence } from './evidence.ts';

const say = (m: string) => process.stderr.write(`test:chaos: ${m}\n`);

async function main(): Promise<number> {
  const started = Date.now();
  const hardStop = setTimeout(() => {
    say('took longer than 25 minutes: stopping the cluster and failing');
    void down(say).finally(() => process.exit(1));
  }, 25 * 60_000);
  hardStop.unref();
  let code = 1;
  try {
    await up(say);
    code = await chaosMain(['--short', ...process.argv.slice(2)]);
  } finally {
    if (code !== 0) {
      try {
        keepEvidence(say);
      } catch (err) {
        say(`could not keep the logs: ${(err as Error).message}`);
      }
    }
    await down(say).catch((err: unknown) => say(`down failed: ${(err as Error).message}`));
  }
  say(`finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
