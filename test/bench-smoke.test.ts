// npm test runs the benchmark harness tiny (BENCH_SMOKE=1), so it cannot rot. Nothing here
// is timed: it checks that every scenario runs and reports, and that smoke runs write no results.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('the benchmark harness runs every scenario end to end (smoke)', async () => {
  const results = new URL('../bench/RESULTS.md', import.meta.url);
  const before = (() => {
    try {
      return statSync(results).mtimeMs;
    } catch {
      return null;
    }
  })();
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_SMOKE: '1' };
  delete env.DATABASE_URL; // the README path: an embedded PostgreSQL of its own
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts'], {
    env,
    timeout: 240_000,
    maxBuffer: 4 * 1024 * 1024,
  });
  const lines = stdout.split('\n').filter((l) => l.startsWith('| '));
  expect(lines[0]).toBe('| test | Tally | baseline (same run) | ratio | target |');
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(
      lines.some((l) => l.startsWith(`| ${n}. `)),
      `scenario ${n}`,
    ).toBe(true);
  expect(stdout).toMatch(/\| 1\. recordUsage, 1 event\/request \| [\d,]+ events\/s/);
  expect(stdout).toMatch(/\| 2\. recordUsageBatch of 500 \| [\d,]+ events\/s \| raw pg [\d,]+ rows\/s \| \d+\.\d\d/);
  // Issue 15's figures, each against its target, for 1 and for 2 instances (the smoke run has
  // 5 tenants where the real one has 100), saturation with where its CPU went.
  for (const instances of ['1 instance', '2 instances'])
    for (const tenants of ['1 tenant', '5 tenants']) {
      expect(stdout).toMatch(
        new RegExp(
          `\\| 5\\. authorizeUsage \\+ reservation, ${tenants}, ${instances} \\| [\\d,]+ decisions/s.*; 1 round against the trivial query, ratios \\d+\\.\\d\\d-\\d+\\.\\d\\d.*; CPU per answer: servers [\\d.]+ ms, PostgreSQL [\\d.]+ ms, load [\\d.]+ ms; machine: [\\d.]+% idle, [\\d.]+% stolen by the host \\| .* \\| \\d+\\.\\d\\d \\| >= 0\\.8 \\|`,
        ),
      );
      expect(stdout).toMatch(
        new RegExp(
          `\\| 5\\. open loop at half the trivial rate, ${tenants}, ${instances} \\| p50 [\\d.]+ ms, p90 [\\d.]+ ms, p99 [\\d.]+ ms .*; floor: trivial p50 \\+ commit p50 = [\\d.]+ ms;.*; machine: [\\d.]+% idle, [\\d.]+% stolen by the host \\| .* \\| p50 < 3 ms, p99 < 20 ms \\|`,
        ),
      );
    }
  // The floor of a durable answer, at the open loops' rate, for each number of instances.
  for (const instances of ['1 instance', '2 instances'])
    expect(stdout).toMatch(
      new RegExp(`\\| 5\\. raw pg one-row INSERT commits, open loop, ${instances} \\| p50 [\\d.]+ ms, p99 [\\d.]+ ms;`),
    );
  // every webhook delivery of the smoke run delivered or scheduled
  expect(stdout).toMatch(/\| 9\. webhooks: .* \| ([\d,]+) of \1 delivered or scheduled/);
  const after = (() => {
    try {
      return statSync(results).mtimeMs;
    } catch {
      return null;
    }
  })();
  expect(after).toBe(before);
}, 300_000);
