import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { topology } from '../cluster/topology.ts';

/**
 * On failure, keep the cluster's logs (down removes them) and print the api nodes' error
 * lines, so the cause is visible in CI output, not only on the machine that ran it.
 */
export function keepEvidence(say: (m: string) => void): void {
  const logs = path.join(topology().dir, 'logs');
  if (!existsSync(logs)) return;
  const kept = `/tmp/basalt-chaos-logs-${Date.now()}`;
  cpSync(logs, kept, { recursive: true });
  say(`cluster logs kept in ${kept}`);
  for (const file of readdirSync(logs).filter((f) => /^(api|worker)\d+\.log$/.test(f)).sort()) {
    const errors = readFileSync(path.join(logs, file), 'utf8')
      .split('\n')
      .filter((l) => /"level":(50|60)/.test(l))
      .slice(-8);
    for (const line of errors) say(`${file}: ${line.slice(0, 600)}`);
  }
}
