// Basalt command line: bulk import and export over the HTTP API (src/cli/cli.ts).
import { CliError, main } from '../src/cli/cli.ts';

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`\nbasalt: ${err instanceof CliError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
}
