import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIG_VARS, ConfigError, helpText, loadConfig } from '../../src/platform/config.js';

describe('configuration', () => {
  it('has sane defaults with an empty environment', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.dataDir, './data');
    assert.equal(c.tfBackend, 'auto');
    assert.equal(c.apiKey, undefined);
    assert.equal(c.limits.bodyBytes, 1024 * 1024);
    assert.equal(c.limits.imageBytes, 10 * 1024 * 1024);
  });

  it('parses every kind of value', () => {
    const c = loadConfig({
      PORT: '0', FOCAL_DATA_DIR: '/var/lib/focal', FOCAL_LOG_LEVEL: 'DEBUG', FOCAL_TF_BACKEND: 'cpu',
      FOCAL_MAX_BODY: '512kb', FOCAL_MAX_ACTIONS: '10', FOCAL_API_KEY: 'k'.repeat(16),
    });
    assert.equal(c.port, 0);
    assert.equal(c.dataDir, '/var/lib/focal');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.tfBackend, 'cpu');
    assert.equal(c.limits.bodyBytes, 512 * 1024);
    assert.equal(c.limits.actionsPerRequest, 10);
    assert.equal(c.apiKey, 'k'.repeat(16));
  });

  it('rejects bad values with one message naming each variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', FOCAL_LOG_LEVEL: 'loud', FOCAL_MAX_BODY: '1 lightyear', FOCAL_MAX_ACTIONS: '0' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 4);
        assert.match(err.message, /PORT must be an integer in 0\.\.65535 \(got "eighty"\)/);
        assert.match(err.message, /FOCAL_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
        assert.match(err.message, /FOCAL_MAX_BODY must be a size/);
        assert.match(err.message, /FOCAL_MAX_ACTIONS must be an integer in 1\.\.100000/);
        return true;
      },
    );
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT must be an integer/);
    assert.throws(() => loadConfig({ PORT: '80.5' }), /PORT must be an integer/);
  });

  it('reads the log retention as a duration and the database cap as a size', () => {
    assert.equal(loadConfig({}).logRetentionMs, 30 * 86_400_000);
    assert.equal(loadConfig({}).maxDatabaseBytes, undefined);
    for (const [raw, ms] of [['90s', 90_000], ['15m', 900_000], ['12h', 43_200_000], ['7d', 604_800_000], [' 30d ', 2_592_000_000]] as const) {
      assert.equal(loadConfig({ FOCAL_LOG_RETENTION: raw }).logRetentionMs, ms, raw);
    }
    assert.equal(loadConfig({ FOCAL_DATABASE_SIZE_LIMIT: '20gb' }).maxDatabaseBytes, 20 * 1024 ** 3);
    for (const bad of ['0d', '30', '1.5h', '-1d', '2 weeks', '1w', '9999999d']) {
      assert.throws(() => loadConfig({ FOCAL_LOG_RETENTION: bad }), /FOCAL_LOG_RETENTION must be a duration/, bad);
    }
    assert.throws(() => loadConfig({ FOCAL_DATABASE_SIZE_LIMIT: 'lots' }), /FOCAL_DATABASE_SIZE_LIMIT must be a size/);
    assert.throws(() => loadConfig({ FOCAL_DATABASE_SIZE_LIMIT: '1kb' }), /FOCAL_DATABASE_SIZE_LIMIT must be between/);
  });

  it('reads FOCAL_DATABASE_URL as a postgres URL and never echoes a rejected one', () => {
    assert.equal(loadConfig({}).databaseUrl, undefined);
    assert.equal(loadConfig({ FOCAL_DATABASE_URL: 'postgres://focal:pw@db:5432/focal' }).databaseUrl, 'postgres://focal:pw@db:5432/focal');
    assert.equal(loadConfig({ FOCAL_DATABASE_URL: 'postgresql://focal@127.0.0.1/focal' }).databaseUrl, 'postgresql://focal@127.0.0.1/focal');
    assert.throws(() => loadConfig({ FOCAL_DATABASE_URL: 'mysql://u:secret-pw@db/focal' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /FOCAL_DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL \(got mysql:\/\/…\) \(got <redacted>\)/);
      assert.doesNotMatch(err.message, /secret-pw/);
      return true;
    });
    assert.throws(() => loadConfig({ FOCAL_DATABASE_URL: 'not a url' }), /FOCAL_DATABASE_URL must be a URL such as/);
  });

  it('never echoes a rejected key', () => {
    assert.throws(() => loadConfig({ FOCAL_API_KEY: 'short-secret' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.doesNotMatch(err.message, /short-secret/);
      assert.match(err.message, /FOCAL_API_KEY must be at least 16 characters long \(got <redacted>\)/);
      return true;
    });
  });

  it('lists every variable with its default in --help', () => {
    const text = helpText();
    for (const v of CONFIG_VARS) {
      assert.ok(text.includes(v.name), `${v.name} missing from --help`);
      assert.ok(text.includes(`(default: ${v.default ?? 'unset'})`));
    }
  });
});
