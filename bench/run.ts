// npm run bench: Tally's speed, as ratios against baselines measured in the same run on the
// same machine. The server runs as its own process on a fresh database (embedded, or a new
// database on DATABASE_URL's server); load comes from this process over HTTP (autocannon)
// and WebSocket (graphql-ws). BENCH_SMOKE=1 runs every scenario tiny (npm test does that, so
// the harness cannot rot) and writes no results file.
import { type ChildProcess, execSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import { WebSocket } from 'ws';
import { ensureDatabase } from '../server/src/db/connect';
import { openDatabase } from '../server/src/db/database';
import { type EmbeddedDatabase, freePort, startEmbeddedPostgres } from '../server/src/db/embedded';
import { rebuild } from '../server/src/modules/usage/usage.reconcile';
import { openLoop, quantile } from './open-loop';
import { walletTest } from './wallet';
import { webhooksTest } from './webhooks';

const SMOKE = process.env.BENCH_SMOKE === '1';
const DURATION = Number(process.env.BENCH_DURATION_S ?? (SMOKE ? 1 : 10));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? (SMOKE ? 4 : 64));
/** Test 5's saturation: rounds of the trivial query and the decisions, side by side. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (SMOKE ? 1 : 3));
const BATCH = 500;
const SUMMARY_EVENTS = Number(process.env.BENCH_SUMMARY_EVENTS ?? (SMOKE ? 5_000 : 5_000_000));
const MINUTE_EVENTS = Number(process.env.BENCH_MINUTE_EVENTS ?? (SMOKE ? 5_000 : 1_000_000));
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? (SMOKE ? 20 : 5_000));
const SUB_TENANTS = Math.min(100, SUBSCRIBERS);
/** BENCH_ONLY=4,6 runs tests 1-3 (always: 7 is measured during them) plus the ones listed (4, 5, 6, 8, 9, 10). */
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').filter(Boolean).map(Number));
const wanted = (n: number) => ONLY.size === 0 || ONLY.has(n);
const OPERATOR = `tly_op_bench_${randomBytes(16).toString('hex')}`;

interface Row {
  test: string;
  figure: string;
  baseline: string;
  ratio: string;
  target: string;
}
const rows: Row[] = [];
const log = (s: string) => process.stderr.write(`${s}\n`);
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// ------------------------------------------------------------------ infrastructure

async function database(): Promise<{
  url: string;
  admin: string;
  embedded: EmbeddedDatabase | null;
  dir: string | null;
}> {
  const name = `tally_bench_${Date.now()}`;
  if (process.env.DATABASE_URL) {
    await ensureDatabase(process.env.DATABASE_URL, name);
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = `/${name}`;
    return { url: u.toString(), admin: process.env.DATABASE_URL, embedded: null, dir: null };
  }
  // Durable settings (fsync on): the baselines and Tally pay the same commit cost.
  const dir = `.data/bench-pg-${process.pid}`;
  const embedded = await startEmbeddedPostgres({ dir, fast: SMOKE });
  await ensureDatabase(embedded.url('postgres'), name);
  return { url: embedded.url(name), admin: embedded.url('postgres'), embedded, dir: embedded.dir };
}

async function startServer(
  url: string,
): Promise<{ proc: ChildProcess; base: string; rss: () => number; hwm: () => number }> {
  const port = await freePort();
  // The server exactly as `npm start` runs it: the built bundle, with the start script's node flags.
  execSync('node scripts/build.mjs', { stdio: 'inherit' });
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start;
  // "exec node <flags> dist/server.mjs": everything after `node`.
  const argv = start.split(/\s+/);
  const proc = spawn(process.execPath, argv.slice(argv.indexOf('node') + 1), {
    env: {
      ...process.env,
      DATABASE_URL: url,
      PORT: String(port),
      TALLY_OPERATOR_KEY: OPERATOR,
      // As deployed: graphql-js and friends skip their development-only checks.
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      TALLY_DATA_DIR: `.data/bench-${process.pid}`,
      DB_POOL_SIZE: '20',
      // Test 9's webhook receivers listen on 127.0.0.1 in this process.
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  const status = (field: string) => {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  };
  return { proc, base, rss: () => status('VmRSS'), hwm: () => status('VmHWM') };
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
const CLK_TCK = (() => {
  try {
    return Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds (user + system) used so far by the Tally servers (processes running
 * dist/server.mjs), by PostgreSQL (processes named postgres: every backend, the WAL writer,
 * the checkpointer) and by this process (the load). Differences of two readings say where a
 * phase's CPU went (Linux only; elsewhere all zero).
 */
function cpuNow(): { servers: number; postgres: number; load: number } {
  const out = { servers: 0, postgres: 0, load: 0 };
  const u = process.cpuUsage();
  out.load = (u.user + u.system) / 1e6;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  const procs = new Map<string, { comm: string; ppid: string; own: number; reaped: number }>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // from the state field (3rd) on: ppid is the 4th field, utime/stime the 14th/15th,
      // cutime/cstime (children waited for) the 16th/17th
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = (i: number) => Number(f[i - 3]) / CLK_TCK;
      procs.set(pid, { comm, ppid: f[1] as string, own: ticks(14) + ticks(15), reaped: ticks(16) + ticks(17) });
    } catch {
      // gone meanwhile
    }
  }
  for (const [pid, p] of procs) {
    if (p.comm === 'postgres') {
      // A backend's CPU counts while it lives, then in its postmaster's reaped children
      // (connections come and go with the pools).
      out.postgres += p.own + (procs.get(p.ppid)?.comm === 'postgres' ? 0 : p.reaped);
    } else if (p.comm === 'node') {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/server.mjs')) out.servers += p.own;
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

/** Where the CPU of `n` answers went between two readings of cpuNow(), per answer. */
function cpuText(a: ReturnType<typeof cpuNow>, b: ReturnType<typeof cpuNow>, n: number): string {
  if (!n) return '';
  const per = (k: keyof typeof a) => (((b[k] - a[k]) / n) * 1000).toFixed(2);
  return `; CPU per answer: servers ${per('servers')} ms, PostgreSQL ${per('postgres')} ms, load ${per('load')} ms`;
}

/**
 * The whole machine's CPU time so far, from /proc/stat (Linux; elsewhere zeros): what was idle,
 * and what the hypervisor took for other guests (steal). A phase's difference says how much of
 * the cores this machine had: a latency tail while steal is high is the host's, not Tally's.
 */
function machineNow(): { total: number; idle: number; steal: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait, steal };
  } catch {
    return { total: 0, idle: 0, steal: 0 };
  }
}

/** What share of the machine's cores was idle, and taken by the host, between two readings. */
function machineText(a: ReturnType<typeof machineNow>, b: ReturnType<typeof machineNow>): string {
  const total = b.total - a.total;
  if (total <= 0) return '';
  const pct = (k: 'idle' | 'steal') => ((100 * (b[k] - a[k])) / total).toFixed(1);
  return `; machine: ${pct('idle')}% idle, ${pct('steal')}% stolen by the host`;
}

async function gql<T = Record<string, any>>(base: string, key: string, query: string, variables?: unknown): Promise<T> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data as T;
}

async function tenant(base: string, name: string, planCode?: string) {
  const d = await gql(
    base,
    OPERATOR,
    'mutation($i: CreateTenantInput!) { createTenant(input: $i) { secret apiKey { id tenant { id } } } }',
    {
      i: { name, planCode },
    },
  );
  return {
    id: d.createTenant.apiKey.tenant.id as string,
    key: d.createTenant.secret as string,
    keyId: d.createTenant.apiKey.id as string,
  };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * autocannon against /graphql; `body(i)` makes the i-th request body (unique idempotency keys).
 * With several keys, request i uses key i mod their number (many tenants at once).
 */
function load(
  base: string,
  key: string | string[],
  body: (i: number) => string,
  connections = CONNECTIONS,
  duration = DURATION,
): Promise<Load> {
  const keys = typeof key === 'string' ? [key] : key;
  let i = 0;
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: `${base}/graphql`,
        connections,
        duration,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[0]}` },
            setupRequest: ((req: Record<string, unknown>) => {
              const n = i++;
              const headers = { ...(req.headers as object), authorization: `Bearer ${keys[n % keys.length]}` };
              return { ...req, headers, body: body(n) };
            }) as never,
          },
        ],
      },
      (err, r) => {
        if (err) return reject(err);
        resolve({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx });
      },
    );
    inst.on('response', (_c, status, resBody) => {
      if (status === 200 && String(resBody).includes('"errors"')) (inst as unknown as { errs?: number }).errs = 1;
    });
  });
}

// ------------------------------------------------------------------ scenarios

const RECORD = 'mutation($i: RecordUsageInput!) { recordUsage(input: $i) { outcome } }';
const BATCH_DOC = 'mutation($i: [RecordUsageInput!]!) { recordUsageBatch(input: $i) { created rejected } }';
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'llama-3-70b'];
const event = (key: string, n: number, spread = true) => ({
  idempotencyKey: key,
  kind: 'LLM',
  provider: 'openai',
  model: spread ? (MODELS[n % MODELS.length] as string) : 'gpt-4o',
  inputTokens: 1000 + (n % 500),
  cachedInputTokens: 100,
  outputTokens: 200 + (n % 100),
  subject: spread ? `user-${n % 50}` : 'user-1',
});

async function main() {
  const started = Date.now();
  const db = await database();
  const server = await startServer(db.url);
  const raw = new pg.Pool({ connectionString: db.url, max: 16 });
  // An idle connection dropped by the server must not crash the harness (pg requires a handler).
  raw.on('error', (e) => log(`baseline pool: ${e.message}`));
  const stopAll = async () => {
    server.proc.kill('SIGTERM');
    await new Promise((r) => server.proc.once('exit', r));
    await raw.end();
    await db.embedded?.stop();
    if (db.dir) rmSync(db.dir, { recursive: true, force: true });
    rmSync(`.data/bench-${process.pid}`, { recursive: true, force: true });
  };
  try {
    const base = server.base;
    for (const m of MODELS)
      await gql(base, OPERATOR, 'mutation($i: SetPriceInput!) { setPrice(input: $i) { id } }', {
        i: {
          provider: 'openai',
          model: m,
          inputPerMillion: '2.5',
          cachedInputPerMillion: '1.25',
          outputPerMillion: '10',
          effectiveFrom: '2020-01-01T00:00:00Z',
        },
      });
    const spread = await tenant(base, 'bench-spread');
    const hot = await tenant(base, 'bench-hot');
    const run = randomBytes(4).toString('hex');

    // 1. recordUsage vs a trivial authenticated query, same concurrency
    log('1/10 trivial query and recordUsage ...');
    const trivial = await load(base, spread.key, () => JSON.stringify({ query: '{ viewer { isOperator } }' }));
    const single = await load(base, spread.key, (i) =>
      JSON.stringify({ query: RECORD, variables: { i: event(`s-${run}-${i}`, i) } }),
    );
    rows.push({
      test: '1. recordUsage, 1 event/request',
      figure: `${fmt(single.rps)} events/s, p50 ${single.p50} ms, p99 ${single.p99} ms`,
      baseline: `trivial query ${fmt(trivial.rps)} req/s`,
      ratio: (single.rps / trivial.rps).toFixed(2),
      target: '>= 0.5',
    });

    // 2. recordUsageBatch of 500 vs raw pg INSERT ... ON CONFLICT + rollup upsert in batches of 500
    const mb = (n: number) => `${fmt(n / 1024 / 1024)} MB`;
    log(`   server RSS ${mb(server.rss())}, peak so far ${mb(server.hwm())}`);
    log('2/10 recordUsageBatch and the raw pg baseline ...');
    const batchLoad = await load(
      base,
      spread.key,
      (i) =>
        JSON.stringify({
          query: BATCH_DOC,
          variables: { i: Array.from({ length: BATCH }, (_, j) => event(`b-${run}-${i}-${j}`, j)) },
        }),
      8,
    );
    const tallyBatchRate = batchLoad.rps * BATCH;
    const rawRate = await rawBaseline(raw, spread, run, 8);
    rows.push({
      test: '2. recordUsageBatch of 500',
      figure: `${fmt(tallyBatchRate)} events/s`,
      baseline: `raw pg ${fmt(rawRate)} rows/s`,
      ratio: (tallyBatchRate / rawRate).toFixed(2),
      target: '>= 0.6 and >= 15,000/s',
    });

    // 3. hot tenant: one tenant, one key, one model
    log(`   server RSS ${mb(server.rss())}, peak so far ${mb(server.hwm())}`);
    log('3/10 hot tenant ...');
    const hotLoad = await load(base, hot.key, (i) =>
      JSON.stringify({ query: RECORD, variables: { i: event(`h-${run}-${i}`, i, false) } }),
    );
    rows.push({
      test: '3. hot tenant (1 tenant, key, model)',
      figure: `${fmt(hotLoad.rps)} events/s, p99 ${hotLoad.p99} ms`,
      baseline: `test 1 ${fmt(single.rps)} events/s`,
      ratio: (hotLoad.rps / single.rps).toFixed(2),
      target: '>= 0.8',
    });
    const peak = server.hwm();
    log(`   server RSS ${mb(server.rss())}, peak ${mb(peak)}`);

    // 4. usageSummary over 30 days after SUMMARY_EVENTS events, vs GROUP BY over the ledger
    if (wanted(4)) await summaryTest(base);
    // 5. authorizeUsage with a reservation, one tenant
    if (wanted(5)) await authorizeTest(base, trivial.rps);
    // 6. subscriptions: SUBSCRIBERS quotaUpdated subscribers across SUB_TENANTS tenants
    if (wanted(6)) await subscriptionTest(base);
    // 8. usageSummary by MINUTE over the last 24 hours of a tenant with MINUTE_EVENTS that day
    if (wanted(8)) await minuteTest(base);
    // 9. webhooks: 1,000 events to 10 endpoints (one slow, one failing), and ingest meanwhile
    if (wanted(9))
      rows.push(
        ...(await webhooksTest({
          base,
          raw,
          run,
          smoke: SMOKE,
          log,
          fmt,
          gql,
          tenant,
          ingest: (key, tag) =>
            load(base, key, (i) =>
              JSON.stringify({ query: RECORD, variables: { i: event(`wh-${tag}-${run}-${i}`, i) } }),
            ),
        })),
      );
    // 10. the hot tenant of test 3 with a funded wallet vs without (bench/wallet.ts)
    if (wanted(10))
      rows.push(...(await walletTest({ base, operator: OPERATOR, raw, run, tenant, gql, load, event, log, fmt })));

    // 7. peak RSS during 1 to 3
    rows.push({
      test: '7. server peak RSS, tests 1-3',
      figure: `${fmt(peak / 1024 / 1024)} MB`,
      baseline: '',
      ratio: '',
      target: '<= 300 MB',
    });

    const table = [
      '| test | Tally | baseline (same run) | ratio | target |',
      '| --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.test} | ${r.figure} | ${r.baseline} | ${r.ratio} | ${r.target} |`),
    ].join('\n');
    console.log(table);
    if (!SMOKE) {
      let commit = 'unknown';
      try {
        commit = execSync('git rev-parse --short HEAD').toString().trim();
      } catch {}
      const md = `# Benchmark results\n\n${new Date().toISOString()} · ${os.cpus().length} cores (${os.cpus()[0]?.model ?? ''}) · ${Math.round(os.totalmem() / 2 ** 30)} GiB · Node ${process.version} · commit ${commit} · ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL'} · ${DURATION} s per load, ${CONNECTIONS} connections\n\n${table}\n\nThe server runs exactly as \`npm start\` runs it (the built bundle, its node flags, NODE_ENV=production); the load generator and PostgreSQL share the same 2 cores. Test 2's baseline inserts the very rows of test 2 (same tenant, key, 50 subjects, 4 models, price versions, costs) with all four rollup levels (keyed by status), by plain SQL in batches of 500 on 8 connections. Tests 4 and 8 load their events with one INSERT ... SELECT from generate_series (one call in 50 failed), build their rollups with the reconcile rebuild (not through the API), then VACUUM ANALYZE, as autovacuum would have. Figures are noisy on shared 2-core machines (the same GROUP BY baseline has measured 2.0 to 5.7 s on different runs); compare ratios, which are measured in the same run.\n`;
      writeFileSync(path.join('bench', 'RESULTS.md'), md);
      log(`wrote bench/RESULTS.md (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await stopAll();
  }

  async function summaryTest(base: string) {
    log(`4/10 loading ${fmt(SUMMARY_EVENTS)} events for the summary test ...`);
    const big = await tenant(base, 'bench-summary');
    await loadEvents(raw, db.url, big.id, big.keyId, SUMMARY_EVENTS);
    const to = new Date();
    to.setUTCHours(0, 0, 0, 0);
    const from = new Date(to.getTime() - 30 * 86_400_000);
    const SUMMARY = `query($f: UsageFilter!) { usageSummary(filter: $f, groupBy: [MODEL], granularity: DAY) { totals { requests cost } buckets { start model totals { requests cost } } } }`;
    const times: number[] = [];
    for (let i = 0; i < (SMOKE ? 3 : 60); i++) {
      const t0 = performance.now();
      await gql(base, big.key, SUMMARY, { f: { from: from.toISOString(), to: to.toISOString() } });
      times.push(performance.now() - t0);
    }
    const plain: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await raw.query(
        `SELECT date_trunc('day', occurred_at, 'UTC') AS d, model, count(*), sum(cost) FROM usage_events
          WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY 1, 2 ORDER BY 1, 2`,
        [big.id, from, to],
      );
      plain.push(performance.now() - t0);
    }
    const p = quantile;
    rows.push({
      test: `4. usageSummary 30 d, DAY x MODEL, ${fmt(SUMMARY_EVENTS)} events`,
      figure: `p50 ${p(times, 0.5).toFixed(1)} ms, p99 ${p(times, 0.99).toFixed(1)} ms`,
      baseline: `GROUP BY over the ledger p50 ${p(plain, 0.5).toFixed(0)} ms`,
      ratio: `${(p(plain, 0.5) / p(times, 0.5)).toFixed(0)}x faster`,
      target: 'p50 <= 20 ms, >= 50x',
    });
  }

  async function minuteTest(base: string) {
    log(`8/10 loading ${fmt(MINUTE_EVENTS)} events of the last 24 hours for the MINUTE summary ...`);
    const busy = await tenant(base, 'bench-minutes');
    const to = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const from = new Date(to.getTime() - 86_400_000);
    await loadEvents(raw, db.url, busy.id, busy.keyId, MINUTE_EVENTS, { from, to });
    // A chart's question: requests and tokens per minute over the last day.
    const MINUTES = `query($f: UsageFilter!) { usageSummary(filter: $f, granularity: MINUTE) { asOf buckets { start totals { requests failedRequests totalTokens cost } } } }`;
    const times: number[] = [];
    let buckets = 0;
    for (let i = 0; i < (SMOKE ? 3 : 60); i++) {
      const t0 = performance.now();
      const d = await gql(base, busy.key, MINUTES, { f: { from: from.toISOString(), to: to.toISOString() } });
      times.push(performance.now() - t0);
      buckets = d.usageSummary.buckets.length;
    }
    const plain: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await raw.query(
        `SELECT date_trunc('minute', occurred_at, 'UTC') AS m, count(*), sum(input_tokens + output_tokens), sum(cost)
           FROM usage_events WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY 1 ORDER BY 1`,
        [busy.id, from, to],
      );
      plain.push(performance.now() - t0);
    }
    const p = quantile;
    rows.push({
      test: `8. usageSummary 24 h by MINUTE, ${fmt(MINUTE_EVENTS)} events that day`,
      figure: `p50 ${p(times, 0.5).toFixed(1)} ms, p99 ${p(times, 0.99).toFixed(1)} ms (${fmt(buckets)} buckets)`,
      baseline: `GROUP BY minute over the ledger p50 ${p(plain, 0.5).toFixed(0)} ms`,
      ratio: `${(p(plain, 0.5) / p(times, 0.5)).toFixed(0)}x faster`,
      target: 'p50 <= 50 ms',
    });
  }

  /**
   * authorizeUsage with a reservation (leases: docs/authorize-leases.md): saturation (64
   * clients, closed loop) for one hot tenant and for 100 tenants, against the trivial query;
   * then an open-loop fixed load at half the trivial rate (latency counted from when each
   * request was due). The same again with a second server instance on the same database
   * (both share this machine's 2 cores: no speed-up is expected), against the trivial query
   * over both instances.
   */
  async function authorizeTest(base: string, trivialRps: number) {
    log('5/10 authorizeUsage ...');
    await gql(
      base,
      OPERATOR,
      'mutation { upsertPlan(input: { code: "bench", name: "Bench", limits: [{ metric: COST, period: DAY, amount: "1000000000", action: BLOCK }] }) { id } }',
    );
    const hotKey = (await tenant(base, 'bench-authorize', 'bench')).key;
    const manyKeys: string[] = [];
    const MANY = SMOKE ? 5 : 100;
    for (let i = 0; i < MANY; i++) manyKeys.push((await tenant(base, `bench-authorize-${i}`, 'bench')).key);
    const AUTH = JSON.stringify({
      query:
        'mutation { authorizeUsage(input: { estimate: { cost: "0.01" }, reserveSeconds: 60 }) { allowed reservation { id } } }',
    });
    const TRIVIAL = JSON.stringify({ query: '{ viewer { isOperator } }' });
    const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(0));
    /** Closed loop on every base at once (connections split), answers summed, latency of the worse base. */
    const closed = async (bases: string[], keys: string[], body: string, seconds = DURATION) => {
      const c0 = cpuNow();
      const m0 = machineNow();
      const parts = await Promise.all(bases.map((b) => load(b, keys, () => body, CONNECTIONS / bases.length, seconds)));
      const m1 = machineNow();
      const c1 = cpuNow();
      const rps = parts.reduce((a, p) => a + p.rps, 0);
      return {
        rps,
        p50: Math.max(...parts.map((p) => p.p50)),
        p99: Math.max(...parts.map((p) => p.p99)),
        errors: parts.reduce((a, p) => a + p.errors, 0),
        cpu: cpuText(c0, c1, Math.round(rps * seconds)),
        c0,
        c1,
        m0,
        m1,
      };
    };
    /**
     * Saturation against the trivial query in alternating rounds on the same instances:
     * trivial, then the decisions, ROUNDS times. This machine's speed moves by a third from one
     * ten seconds to the next (a trivial query alone measured 2,400 to 4,400 req/s in
     * consecutive 4 s windows), so a ratio of two figures a minute apart said more about the
     * moment than about the code; rounds side by side cancel that drift, and the spread of the
     * rounds' ratios is printed with the figure. The ratio is total decisions over total
     * trivial answers, in equal times.
     */
    const paired = async (bases: string[], keys: string[]) => {
      const half = SMOKE ? 1 : Math.max(2, Math.round(DURATION / 2));
      const rounds: { trivial: Awaited<ReturnType<typeof closed>>; auth: Awaited<ReturnType<typeof closed>> }[] = [];
      for (let k = 0; k < ROUNDS; k++) {
        const trivial = await closed(bases, [hotKey], TRIVIAL, half);
        // A scope idle through the trivial round may have given its slices back: one second
        // of decisions first, not counted, as a gateway's traffic would have kept them.
        await closed(bases, keys, AUTH, 1);
        rounds.push({ trivial, auth: await closed(bases, keys, AUTH, half) });
      }
      const sum = (f: (r: (typeof rounds)[number]) => number) => rounds.reduce((a, r) => a + f(r), 0);
      const ratios = rounds.map((r) => r.auth.rps / r.trivial.rps);
      const n = Math.round(sum((r) => r.auth.rps) * half);
      // CPU of the decision rounds only.
      const cpuOf = (k: keyof ReturnType<typeof cpuNow>) => sum((r) => r.auth.c1[k] - r.auth.c0[k]);
      const zero = { servers: 0, postgres: 0, load: 0 };
      const machineOf = (k: keyof ReturnType<typeof machineNow>) => sum((r) => r.auth.m1[k] - r.auth.m0[k]);
      return {
        rps: sum((r) => r.auth.rps) / rounds.length,
        trivial: sum((r) => r.trivial.rps) / rounds.length,
        ratio: sum((r) => r.auth.rps) / sum((r) => r.trivial.rps),
        spread: `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`,
        p50: Math.max(...rounds.map((r) => r.auth.p50)),
        p99: Math.max(...rounds.map((r) => r.auth.p99)),
        errors: sum((r) => r.auth.errors),
        cpu: cpuText(zero, { servers: cpuOf('servers'), postgres: cpuOf('postgres'), load: cpuOf('load') }, n),
        machine: machineText(
          { total: 0, idle: 0, steal: 0 },
          { total: machineOf('total'), idle: machineOf('idle'), steal: machineOf('steal') },
        ),
      };
    };
    /** The lease/locked decision counts and renewals so far, summed over the instances' /metrics. */
    const paths = async (bases: string[]) => {
      const sum = {
        lease: 0,
        locked: 0,
        renewals: 0,
        renewalSeconds: 0,
        waits: 0,
        waitSeconds: 0,
        writes: 0,
        writeSeconds: 0,
        written: 0,
      };
      for (const b of bases) {
        const text = await (await fetch(`${b}/metrics`)).text();
        const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
        sum.lease += num(/^tally_authorize_path_total\{path="lease"\} (\S+)$/m);
        sum.locked += num(/^tally_authorize_path_total\{path="locked"\} (\S+)$/m);
        sum.renewals += num(/^tally_lease_renewal_seconds_count (\S+)$/m);
        sum.renewalSeconds += num(/^tally_lease_renewal_seconds_sum (\S+)$/m);
        sum.writes += num(/^tally_lease_write_seconds_count (\S+)$/m);
        sum.writeSeconds += num(/^tally_lease_write_seconds_sum (\S+)$/m);
        sum.written += num(/^tally_lease_write_decisions_total (\S+)$/m);
        sum.waits += num(/^tally_group_commit_wait_seconds_count\{queue="authorize"\} (\S+)$/m);
        sum.waitSeconds += num(/^tally_group_commit_wait_seconds_sum\{queue="authorize"\} (\S+)$/m);
      }
      return sum;
    };
    /** What the lease path did between two readings of paths(). */
    const pathsText = (a: Awaited<ReturnType<typeof paths>>, b: Awaited<ReturnType<typeof paths>>) => {
      const lease = b.lease - a.lease;
      const locked = b.locked - a.locked;
      const renewals = b.renewals - a.renewals;
      const mean = renewals ? ((b.renewalSeconds - a.renewalSeconds) / renewals) * 1000 : 0;
      const waits = b.waits - a.waits;
      const wait = waits ? ((b.waitSeconds - a.waitSeconds) / waits) * 1000 : 0;
      const writes = b.writes - a.writes;
      const write = writes ? ((b.writeSeconds - a.writeSeconds) / writes) * 1000 : 0;
      const per = writes ? (b.written - a.written) / writes : 0;
      return `; ${((100 * lease) / Math.max(1, lease + locked)).toFixed(1)}% on leases (${fmt(locked)} locked), ${fmt(renewals)} renewals, mean ${ms(mean)} ms (${ms(wait)} ms queued for the locked path); lease statements mean ${ms(write)} ms, ${fmt(per, 1)} decisions each`;
    };
    const measure = async (instances: string, bases: string[], baseline: number) => {
      // The same open loop on the trivial query: what HTTP and GraphQL alone cost at this rate,
      // on this machine, now (the part of an answer's latency no decision path can remove).
      const rate0 = Math.round(baseline / 2);
      const m0 = machineNow();
      const trivialOpen = await openLoop({
        bases,
        keys: [hotKey],
        body: () => TRIVIAL,
        rate: rate0,
        seconds: DURATION,
      });
      rows.push({
        test: `5. open loop at half the trivial rate, trivial query, ${instances}`,
        figure: `p50 ${ms(trivialOpen.p50)} ms, p90 ${ms(trivialOpen.p90)} ms, p99 ${ms(trivialOpen.p99)} ms (${fmt(trivialOpen.achieved)}/s answered)${machineText(m0, machineNow())}`,
        baseline: `${fmt(rate0)} req/s offered`,
        ratio: '',
        target: '(the floor under the rows below)',
      });
      // The floor under any answer that waits for a commit: one-row INSERTs, each its own
      // transaction, at the same rate (this disk's flush and this machine's wake-ups, shared
      // with the other processes). An answer that commits before it is sent cannot beat the
      // trivial query's latency plus this one.
      const floor = await commitFloor(rate0, SMOKE ? 1 : 5);
      rows.push({
        test: `5. raw pg one-row INSERT commits, open loop, ${instances}`,
        figure: `p50 ${ms(floor.p50)} ms, p99 ${ms(floor.p99)} ms; one connection, one commit after another: p50 ${ms(floor.serialP50)} ms`,
        baseline: `${fmt(rate0)} commits/s offered`,
        ratio: '',
        target: '(the floor of a durable answer)',
      });
      const durableFloor = `; floor: trivial p50 + commit p50 = ${ms(trivialOpen.p50 + floor.p50)} ms`;
      for (const [label, keys] of [
        ['1 tenant', [hotKey]],
        [`${MANY} tenants`, manyKeys],
      ] as const) {
        // Steady state: new scopes start on the locked path and move to leases as they get busy.
        log(`   ${instances}, ${label}: warm-up ...`);
        await openLoop({ bases, keys: [...keys], body: () => AUTH, rate: baseline / 2, seconds: SMOKE ? 1 : 5 });
        log(`   ${instances}, ${label}: saturation ...`);
        const p0 = await paths(bases);
        const sat = await paired(bases, [...keys]);
        const p1 = await paths(bases);
        rows.push({
          test: `5. authorizeUsage + reservation, ${label}, ${instances}`,
          figure: `${fmt(sat.rps)} decisions/s, p50 ${sat.p50} ms, p99 ${sat.p99} ms${sat.errors ? `, ${sat.errors} errors` : ''}; ${ROUNDS} round${ROUNDS === 1 ? '' : 's'} against the trivial query, ratios ${sat.spread}${pathsText(p0, p1)}${sat.cpu}${sat.machine}`,
          baseline: `trivial query ${fmt(sat.trivial)} req/s in the rounds between`,
          ratio: sat.ratio.toFixed(2),
          target: '>= 0.8',
        });
        const rate = Math.round(baseline / 2);
        log(`   ${instances}, ${label}: open loop at ${rate}/s ...`);
        const m1 = machineNow();
        const open = await openLoop({ bases, keys: [...keys], body: () => AUTH, rate, seconds: DURATION });
        const m2 = machineNow();
        const p2 = await paths(bases);
        rows.push({
          test: `5. open loop at half the trivial rate, ${label}, ${instances}`,
          figure: `p50 ${ms(open.p50)} ms, p90 ${ms(open.p90)} ms, p99 ${ms(open.p99)} ms (${fmt(open.achieved)}/s answered${open.errors ? `, ${open.errors} errors` : ''})${durableFloor}${pathsText(p1, p2)}${machineText(m1, m2)}`,
          baseline: `${fmt(rate)} req/s offered`,
          ratio: '',
          target: 'p50 < 3 ms, p99 < 20 ms',
        });
      }
    };
    // The baseline of this test is the trivial query measured now, on the database as tests 1-3 left it.
    log('   trivial query now ...');
    const trivialLoad = await closed([base], [hotKey], TRIVIAL);
    const trivialNow = trivialLoad.rps;
    rows.push({
      test: '5. trivial query, before test 5',
      figure: `${fmt(trivialNow)} req/s${trivialLoad.cpu}`,
      baseline: `test 1 ${fmt(trivialRps)} req/s`,
      ratio: (trivialNow / trivialRps).toFixed(2),
      target: '(the baseline of test 5)',
    });
    await measure('1 instance', [base], trivialNow);
    log('   starting a second instance ...');
    const second = await startServer(db.url);
    try {
      const trivial2 = await closed([base, second.base], [hotKey], TRIVIAL);
      rows.push({
        test: '5. trivial query, 2 instances',
        figure: `${fmt(trivial2.rps)} req/s, p99 ${trivial2.p99} ms${trivial2.cpu}`,
        baseline: `1 instance ${fmt(trivialNow)} req/s`,
        ratio: (trivial2.rps / trivialNow).toFixed(2),
        target: '(reported: 2 instances share 2 cores)',
      });
      await measure('2 instances', [base, second.base], trivial2.rps);
    } finally {
      second.proc.kill('SIGTERM');
      await new Promise((r) => second.proc.once('exit', r));
    }
  }

  /** One-row INSERT transactions at a fixed rate on the raw pool; latency from when each was due. */
  async function commitFloor(rate: number, seconds: number) {
    await raw.query('CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
    const latencies: number[] = [];
    const start = performance.now();
    const total = Math.floor(rate * seconds);
    const pending: Promise<unknown>[] = [];
    let sent = 0;
    // Every millisecond, everything due by now is sent (never early: an early send would count
    // a negative latency).
    while (sent < total) {
      const now = performance.now();
      for (; sent < total && start + (sent * 1000) / rate <= now; sent++) {
        const due = start + (sent * 1000) / rate;
        pending.push(
          raw.query('INSERT INTO bench_commit DEFAULT VALUES').then(() => latencies.push(performance.now() - due)),
        );
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
    // One connection, one commit after the other: what one durable commit (its WAL flush) takes.
    const c = await raw.connect();
    const serial: number[] = [];
    try {
      const until = performance.now() + (SMOKE ? 200 : 2000);
      while (performance.now() < until) {
        const t0 = performance.now();
        await c.query('INSERT INTO bench_commit DEFAULT VALUES');
        serial.push(performance.now() - t0);
      }
    } finally {
      c.release();
    }
    return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), serialP50: quantile(serial, 0.5) };
  }

  async function subscriptionTest(base: string) {
    log(`6/10 ${fmt(SUBSCRIBERS)} subscribers ...`);
    const subResult = await subscriptions(base);
    rows.push({
      test: `6. ${fmt(SUBSCRIBERS)} subscribers, ${SUB_TENANTS} tenants`,
      figure: `commit -> last push p50 ${subResult.p50.toFixed(0)} ms, p99 ${subResult.p99.toFixed(0)} ms; ${fmt(subResult.perSub / 1024, 1)} KiB/subscriber`,
      baseline: `${subResult.connections} WebSocket connections`,
      ratio: '',
      target: 'p99 <= 500 ms, <= 30 KiB',
    });
  }

  /**
   * The same rows Tally writes for test 2 (the same events: tenant, key, subjects, models,
   * tokens, their price version and cost), inserted by plain SQL in batches of 500 with all four
   * rollup levels, as the cheapest correct writer would: no GraphQL, no validation.
   */
  async function rawBaseline(
    pool: pg.Pool,
    t: { id: string; keyId: string },
    run: string,
    clients: number,
  ): Promise<number> {
    const prices = new Map(
      (
        await pool.query<{ model: string; id: string }>(
          'SELECT model, id FROM prices WHERE tenant_id IS NULL AND effective_to IS NULL AND model = ANY($1)',
          [MODELS],
        )
      ).rows.map((r) => [r.model, r.id]),
    );
    // The events of test 2 and the cost Tally computes for them (2.5 / 1.25 / 10 per million).
    const rowsOf = (b: number) =>
      Array.from({ length: BATCH }, (_, j) => {
        const e = event(`raw-${run}-${b}-${j}`, j);
        const cost = (
          ((e.inputTokens - e.cachedInputTokens) * 2.5 + e.cachedInputTokens * 1.25 + e.outputTokens * 10) /
          1e6
        ).toFixed(12);
        return { ...e, cost, priceId: prices.get(e.model) as string, fingerprint: randomBytes(32).toString('hex') };
      });
    let rowsDone = 0;
    const until = Date.now() + DURATION * 1000;
    let n = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const c = await pool.connect();
        try {
          while (Date.now() < until) {
            const rows = rowsOf(n++);
            const col = <K extends keyof (typeof rows)[number]>(k: K) => rows.map((r) => r[k]);
            await c.query('BEGIN');
            await c.query(
              `WITH ins AS (
                 INSERT INTO usage_events (tenant_id, idempotency_key, fingerprint, api_key_id, kind, provider, model, model_source, status, requests,
                   input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, cost, currency, occurred_at, subject, price_id)
                 SELECT $1, k, decode(f, 'hex'), $2, 'LLM', 'openai', m, 'VENDOR', 'SUCCEEDED', 1, i, o, ci, 0, 0, c, 'USD', now(), s, p
                   FROM unnest($3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::numeric[], $10::text[], $11::uuid[])
                     AS u(k, f, m, i, o, ci, c, s, p)
                 ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING *)
               -- the same four rollup levels Tally writes, keyed by status too (the bench tenant's zone is UTC)
               , r1 AS (INSERT INTO usage_rollups_hourly (tenant_id, hour, kind, currency, api_key_id, model, provider, subject, status, requests, input_tokens, output_tokens, cached_input_tokens, cost)
               SELECT tenant_id, date_trunc('hour', occurred_at), kind, currency, api_key_id, model, provider, subject, status, count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost)
                 FROM ins GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
               ON CONFLICT (tenant_id, hour, kind, currency, api_key_id, model, provider, subject, status) DO UPDATE SET
                 requests = usage_rollups_hourly.requests + excluded.requests, input_tokens = usage_rollups_hourly.input_tokens + excluded.input_tokens,
                 output_tokens = usage_rollups_hourly.output_tokens + excluded.output_tokens, cost = usage_rollups_hourly.cost + excluded.cost
               RETURNING 1)
               , r2 AS (INSERT INTO usage_rollups_hourly_keys (tenant_id, hour, kind, currency, api_key_id, model, provider, status, requests, input_tokens, output_tokens, cached_input_tokens, cost)
               SELECT tenant_id, date_trunc('hour', occurred_at), kind, currency, api_key_id, model, provider, status, count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost)
                 FROM ins GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
               ON CONFLICT (tenant_id, hour, kind, currency, api_key_id, model, provider, status) DO UPDATE SET
                 requests = usage_rollups_hourly_keys.requests + excluded.requests, input_tokens = usage_rollups_hourly_keys.input_tokens + excluded.input_tokens,
                 output_tokens = usage_rollups_hourly_keys.output_tokens + excluded.output_tokens, cost = usage_rollups_hourly_keys.cost + excluded.cost
               RETURNING 1)
               , r3 AS (INSERT INTO usage_rollups_daily_keys (tenant_id, day, kind, currency, api_key_id, model, provider, status, requests, input_tokens, output_tokens, cached_input_tokens, cost)
               SELECT tenant_id, date_trunc('day', occurred_at, 'UTC'), kind, currency, api_key_id, model, provider, status, count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost)
                 FROM ins GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
               ON CONFLICT (tenant_id, day, kind, currency, api_key_id, model, provider, status) DO UPDATE SET
                 requests = usage_rollups_daily_keys.requests + excluded.requests, input_tokens = usage_rollups_daily_keys.input_tokens + excluded.input_tokens,
                 output_tokens = usage_rollups_daily_keys.output_tokens + excluded.output_tokens, cost = usage_rollups_daily_keys.cost + excluded.cost
               RETURNING 1)
               , r4 AS (INSERT INTO usage_rollups_minute_keys (tenant_id, minute, kind, currency, api_key_id, model, provider, status, requests, input_tokens, output_tokens, cached_input_tokens, cost)
               SELECT tenant_id, date_trunc('minute', occurred_at), kind, currency, api_key_id, model, provider, status, count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost)
                 FROM ins GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
               ON CONFLICT (tenant_id, minute, kind, currency, api_key_id, model, provider, status) DO UPDATE SET
                 requests = usage_rollups_minute_keys.requests + excluded.requests, input_tokens = usage_rollups_minute_keys.input_tokens + excluded.input_tokens,
                 output_tokens = usage_rollups_minute_keys.output_tokens + excluded.output_tokens, cost = usage_rollups_minute_keys.cost + excluded.cost
               RETURNING 1)
               -- in Tally's order (hourly, hourly without subject, daily, minute), so the two never deadlock
               SELECT 1`,
              [
                t.id,
                t.keyId,
                col('idempotencyKey'),
                col('fingerprint'),
                col('model'),
                col('inputTokens'),
                col('outputTokens'),
                col('cachedInputTokens'),
                col('cost'),
                col('subject'),
                col('priceId'),
              ],
            );
            await c.query('COMMIT');
            rowsDone += BATCH;
          }
        } finally {
          c.release();
        }
      }),
    );
    return rowsDone / DURATION;
  }

  async function subscriptions(base: string) {
    const tenants = await Promise.all(Array.from({ length: SUB_TENANTS }, (_, i) => tenant(base, `bench-sub-${i}`)));
    const perTenant = Math.ceil(SUBSCRIBERS / SUB_TENANTS);
    const perConnection = 20;
    const before = server.rss();
    const clients: ReturnType<typeof createClient>[] = [];
    const received = new Map<string, number[]>(); // tenant -> receive times (ms) of pushes after the change
    const initial: Promise<void>[] = [];
    let armed = false;
    for (const t of tenants) {
      received.set(t.id, []);
      for (let c = 0; c < Math.ceil(perTenant / perConnection); c++) {
        const client = createClient({
          url: `${base.replace('http', 'ws')}/graphql`,
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${t.key}` },
        });
        clients.push(client);
        for (let s = 0; s < perConnection && c * perConnection + s < perTenant; s++) {
          initial.push(
            new Promise<void>((resolve, reject) => {
              let first = true;
              client.subscribe(
                { query: 'subscription { quotaUpdated { tenantId blocked } }' },
                {
                  next: () => {
                    if (first) {
                      first = false;
                      resolve();
                    } else if (armed) received.get(t.id)?.push(performance.now());
                  },
                  error: reject,
                  complete: () => {},
                },
              );
            }),
          );
        }
      }
    }
    await Promise.all(initial);
    await new Promise((r) => setTimeout(r, 500));
    const perSub = (server.rss() - before) / SUBSCRIBERS;
    armed = true;
    const committedAt = new Map<string, number>();
    await Promise.all(
      tenants.map(async (t, i) => {
        await gql(base, t.key, RECORD, { i: { idempotencyKey: `sub-${i}`, kind: 'CALL', cost: '0.01' } });
        committedAt.set(t.id, performance.now());
      }),
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && [...received.values()].some((r) => r.length < perTenant))
      await new Promise((r) => setTimeout(r, 20));
    const latencies = tenants.flatMap((t) =>
      (received.get(t.id) ?? []).map((at) => at - (committedAt.get(t.id) as number)),
    );
    const lastPerTenant = tenants.map(
      (t) => Math.max(...(received.get(t.id) ?? [0])) - (committedAt.get(t.id) as number),
    );
    for (const c of clients) await c.dispose();
    const q = quantile;
    if (latencies.length < SUBSCRIBERS)
      log(`warning: ${SUBSCRIBERS - latencies.length} subscribers got no push in 10 s`);
    return { p50: q(lastPerTenant, 0.5), p99: q(latencies, 0.99), perSub, connections: clients.length };
  }
}

/** N events for one tenant over the last 30 days (or [from, to)), generated in SQL; rollups built from them. */
async function loadEvents(
  pool: pg.Pool,
  url: string,
  tenantId: string,
  keyId: string,
  n: number,
  range?: { from: Date; to: Date },
) {
  const span = range
    ? { start: range.from.toISOString(), length: `${(range.to.getTime() - range.from.getTime()) / 1000} seconds` }
    : { start: null, length: '30 days' };
  const chunk = 500_000;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    await pool.query(
      `INSERT INTO usage_events (tenant_id, idempotency_key, fingerprint, api_key_id, kind, provider, model, model_source, status, requests,
         input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, cost, currency, occurred_at, subject)
       SELECT $1, 'load-' || g, '\\x00'::bytea, $2, 'LLM', 'openai', (ARRAY['gpt-4o','gpt-4o-mini','claude-3-5-sonnet','llama-3-70b'])[1 + g % 4],
              'VENDOR', CASE WHEN g % 50 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END, 1, 1000, 200, 100, 0, 0, 0.004, 'USD',
              coalesce($6::timestamptz, date_trunc('day', now()) - interval '30 days') + (g::double precision / $4) * $7::interval,
              'user-' || (g % 1000)
         FROM generate_series($3::bigint, $5::bigint) AS g`,
      [tenantId, keyId, start, n, end - 1, span.start, span.length],
    );
  }
  // Rollups exactly as `npm run reconcile -- --rebuild` recomputes them from the ledger.
  const db = await openDatabase(url, { poolSize: 1, migrate: false });
  try {
    await rebuild(db, tenantId);
  } finally {
    await db.close();
  }
  // As a loaded database is in steady state: vacuumed (visibility map set) and analysed, so
  // autovacuum's first pass over 5M fresh rows does not run during the measurement.
  await pool.query(
    'VACUUM (ANALYZE) usage_events, usage_rollups_hourly, usage_rollups_hourly_keys, usage_rollups_daily_keys, usage_rollups_minute_keys',
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
