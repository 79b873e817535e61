// Rewrites the configuration table in README.md from src/config/config.ts (the one declaration).
import { readFile, writeFile } from 'node:fs/promises';
import { configTable } from '../src/config/config.ts';

const readme = new URL('../README.md', import.meta.url);
const text = await readFile(readme, 'utf8');
const next = text.replace(
  /<!-- config-table:start -->[\s\S]*<!-- config-table:end -->/,
  `<!-- config-table:start -->\n${configTable()}\n<!-- config-table:end -->`,
);
await writeFile(readme, next);
process.stdout.write(next === text ? 'README.md already current\n' : 'README.md configuration table updated\n');
