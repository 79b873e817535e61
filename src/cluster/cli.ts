/**
 * `npm run cluster -- up | status [--json] | down`: the local HA topology on 127.0.0.1
 * (etcd ×3, Patroni ×3 with PostgreSQL 15, HAProxy, NATS ×3 with JetStream, api ×3,
 * worker ×2). State (PIDs, ports) lives in $BASALT_CLUSTER_DIR (default /tmp/basalt-cluster).
 */
import { type ClusterStatus, down, hostSummary, status, up } from './cluster.ts';

const say = (m: string) => process.stderr.write(`cluster: ${m}\n`);

function printStatus(st: ClusterStatus): void {
  const lines: string[] = [];
  lines.push(`cluster ${st.up ? 'UP' : 'DEGRADED'} (${st.dir}; ${hostSummary()})`);
  lines.push(`  api (load balancer): ${st.apiUrl}   admin: ${st.admin.email} / ${st.admin.password}`);
  lines.push(`  postgres write: ${st.postgres.writeUrl}`);
  lines.push(`  postgres read:  ${st.postgres.readUrl}`);
  lines.push('  member      role          state       port   patroni  postmaster  timeline  lag');
  for (const m of st.postgres.members) {
    lines.push(
      `  ${m.name.padEnd(10)}  ${m.role.padEnd(12)}  ${m.state.padEnd(10)}  ${String(m.port).padEnd(5)}  ${String(m.patroniPid ?? '-').padEnd(7)}  ${String(m.postmasterPid ?? '-').padEnd(10)}  ${String(m.timeline ?? '-').padEnd(8)}  ${m.lag ?? '-'}`,
    );
  }
  for (const e of st.etcd) lines.push(`  ${e.name.padEnd(10)}  ${e.healthy ? 'healthy' : 'DOWN'.padEnd(7)}       ${e.url}  pid ${e.pid ?? '-'}`);
  lines.push(`  haproxy     ${st.haproxy.pid ? 'running' : 'DOWN   '}       stats ${st.haproxy.statsUrl}  pid ${st.haproxy.pid ?? '-'}`);
  lines.push(`  dbproxy     ${st.dbProxy.pid ? 'running' : 'DOWN   '}       ${st.dbProxy.controlUrl}  pid ${st.dbProxy.pid ?? '-'}`);
  for (const n of st.nats) lines.push(`  ${n.name.padEnd(10)}  ${n.healthy ? (n.jetstream ? 'healthy+js' : 'healthy') : 'DOWN'}    ${n.url}  pid ${n.pid ?? '-'}`);
  for (const a of st.api) lines.push(`  ${a.name.padEnd(10)}  ${a.ready ? 'ready' : 'NOT READY'}         ${a.url}  pid ${a.pid ?? '-'}`);
  for (const w of st.workers) lines.push(`  ${w.name.padEnd(10)}  ${w.alive ? 'running' : 'DOWN'}                pid ${w.pid ?? '-'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'up': {
      await up(say);
      const st = await status();
      if (st) printStatus(st);
      return 0;
    }
    case 'status': {
      const st = await status();
      if (!st) {
        if (rest.includes('--json')) process.stdout.write(`${JSON.stringify({ up: false })}\n`);
        else say('no cluster (run `npm run cluster -- up`)');
        return 1;
      }
      if (rest.includes('--json')) process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
      else printStatus(st);
      return st.up ? 0 : 2;
    }
    case 'down':
      await down(say, { keepData: rest.includes('--keep-data') });
      return 0;
    default:
      say('usage: npm run cluster -- up | status [--json] | down [--keep-data]');
      return 64;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
