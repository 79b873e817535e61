// npm run bench [-- --scale 0.1]: seeds scale data, runs the HTTP workloads against a raw-PostgreSQL
// baseline, and writes bench-results/bench-<time>.{json,md} (src/bench/run.ts).
import { markdown, parseBenchArgs, runBench, writeReport } from '../src/bench/run.ts';

const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const opts = parseBenchArgs(process.argv.slice(2));
const report = await runBench(opts, log);
const files = await writeReport(report);
process.stdout.write(`\n${markdown(report)}\nwrote ${files.json} and ${files.md}\n`);
