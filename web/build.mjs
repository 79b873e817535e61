// Builds the web UI into web/dist. Runs on `npm install` (postinstall) and before
// `npm start` (prestart, with --if-missing), so a fresh checkout serves the whole product.
// BASALT_SKIP_WEB_BUILD=1 skips it (API-only deployments, or an image built elsewhere).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const ifMissing = process.argv.includes('--if-missing');
const say = (msg) => process.stdout.write(`basalt web: ${msg}\n`);

if (process.env.BASALT_SKIP_WEB_BUILD === '1') {
  say('BASALT_SKIP_WEB_BUILD=1, not building the UI');
  process.exit(0);
}
if (ifMissing && existsSync(path.join(here, 'dist', 'index.html'))) process.exit(0);

const vite = path.join(here, '..', 'node_modules', 'vite', 'bin', 'vite.js');
if (!existsSync(vite)) {
  say('vite is not installed; skipping the UI build (the API still works; run `npm install` to get the UI)');
  process.exit(0);
}
const started = Date.now();
const res = spawnSync(process.execPath, [vite, 'build', here, '--logLevel', 'warn'], { stdio: 'inherit' });
if (res.status !== 0) {
  process.stderr.write('basalt web: the UI build failed (see above)\n');
  process.exit(res.status ?? 1);
}
say(`UI built into web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
