/**
 * `npm run chaos [-- --short] [--only a,b] [--users n] [--out file.json] [--no-store]`:
 * runs the experiments against the cluster of `npm run cluster -- up`, prints a table, writes
 * the JSON report, stores each result in the CRM. Exit code 1 when a hypothesis failed.
 */
import { writeFileSync } from 'node:fs';
import { ALL } from './experiments.ts';
import { runChaos, table } from './runner.ts';

export async function chaosMain(argv: string[]): Promise<number> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = arg('--only')?.split(',');
  const unknown = only?.filter((id) => !ALL.some((e) => e.id === id));
  if (unknown?.length) {
    process.stderr.write(`chaos: unknown experiment(s) ${unknown.join(', ')}; known: ${ALL.map((e) => e.id).join(', ')}\n`);
    return 64;
  }
  const out = arg('--out') ?? '/tmp/basalt-chaos-report.json';
  const say = (m: string) => process.stderr.write(`chaos: ${m}\n`);
  const started = Date.now();
  const report = await runChaos({
    experiments: only ? ALL.filter((e) => only.includes(e.id)) : ALL,
    short: argv.includes('--short'),
    users: Number(arg('--users') ?? 4),
    say,
    store: !argv.includes('--no-store'),
  });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${table(report)}\n\n`);
  process.stdout.write(`errors = failed attempts seen by the client / operations still failed after retrying with the same Idempotency-Key\n`);
  process.stdout.write(`${report.passed ? 'ALL PASSED' : 'SOME FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s; JSON report: ${out}\n`);
  return report.passed ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  chaosMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`chaos: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
