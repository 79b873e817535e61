import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configTable, loadConfig } from '../../src/config/config.ts';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toBe('./data');
    expect(c.openSignup).toBe(false);
  });

  it.each([
    ['PORT', 'eighty', /PORT must be an integer/],
    ['PORT', '70000', /PORT must be between/],
    ['DATABASE_URL', 'mysql://x@y/z', /DATABASE_URL must use the postgres:\/\/ scheme/],
    ['DATABASE_URL', 'not a url', /DATABASE_URL is not a valid URL/],
    ['BASALT_OPEN_SIGNUP', 'maybe', /BASALT_OPEN_SIGNUP must be true or false/],
    ['BASALT_ADMIN_PASSWORD', 'short', /BASALT_ADMIN_PASSWORD must be at least 8/],
    ['BASALT_LOG_LEVEL', 'loud', /BASALT_LOG_LEVEL must be one of/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    let caught: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(name);
    expect((caught as Error).message).toMatch(message);
  });

  it('the README documents every setting exactly as declared (npm run config:doc)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(configTable());
  });
});
