/**
 * Suite 9 — the shared store (@ckpt/postgres) on one throwaway local PostgreSQL cluster (fsync
 * on, synchronous_commit on), every contestant on the same server in alternating rounds:
 *  - durable append: ckpt's fenced append (owner-row renewal + insert + checkpoint row, one
 *    statement, one commit) against a raw node-postgres INSERT loop (autocommit: one commit each);
 *  - group commit: 8 / 64 / 256 concurrent durable appenders against raw batched inserts (one
 *    multi-row INSERT … unnest per batch of the same size, sequentially);
 *  - resume (open: take ownership, read snapshot + tail, fold, commit the epoch record) of
 *    10^6 events against 10^4, both compacted as they were written;
 *  - failover: kill -9 of the owner (`ckpt run --store`) to the first step run by the new owner,
 *    with a standby already waiting (`--wait`) and with a cold rerun started after the kill.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { alternate, figure, goal } from '../lib/measure.mjs';
import { benchIdentity, eventAt } from './shared.mjs';

export const id = 'shared-store';
export const number = 9;
export const title = 'Shared store on PostgreSQL (durable append, group commit, resume, failover)';

function unavailable(reason, quick) {
  const row = (key, label, role = 'peer') => ({ key, label, role, available: false, reason });
  const figures = [
    figure({
      id: 'pg-durable-append',
      label: 'durable appends of one event',
      unit: 'events/s',
      better: 'higher',
      rows: [row('ckpt', 'ckpt PgLog.append durable', 'subject'), row('raw', 'raw INSERT (autocommit)')],
    }),
    figure({
      id: 'pg-resume',
      label: 'resume',
      unit: 'ms',
      better: 'lower',
      rows: [row('large', 'resume of 10^6 events', 'subject'), row('small', 'resume of 10^4 events')],
    }),
  ];
  return {
    params: { quick },
    figures,
    goals: [goal({ text: 'durable append ≥ 0.9× raw INSERT', figure: figures[0], subject: 'ckpt', peer: 'raw', op: '>=', threshold: 0.9 })],
    availability: { postgres: reason },
  };
}

export async function run(ctx) {
  const pgDist = join(ctx.root, 'packages', 'postgres', 'dist');
  if (!existsSync(join(pgDist, 'index.js'))) return unavailable('@ckpt/postgres is not built (pnpm build)', ctx.quick);
  const harness = await import(join(pgDist, 'test-support', 'pg-cluster.js'));
  if (harness.pgBinaries === undefined) return unavailable('no PostgreSQL server programs (apt-get install postgresql)', ctx.quick);
  const adapter = await import(join(pgDist, 'index.js'));
  // The adapter's own fenced statement, issued by a bare client: what fencing costs without ckpt around it.
  const { appendStatement } = await import(join(pgDist, 'fenced-sql.js'));
  const pg = createRequire(join(ctx.root, 'packages', 'postgres', 'package.json'))('pg');
  const { core, msgpackr } = ctx;
  const packr = new msgpackr.Packr({ useRecords: false, structuredClone: false, moreTypes: false });
  const { crc32 } = await import('node:zlib');
  const identity = benchIdentity(core);
  const rounds = ctx.quick ? 2 : 7;
  const cluster = await harness.PgCluster.start();
  ctx.log(`  ${harness.pgBinaries.version} at ${cluster.url}`);
  let schemaCount = 0;
  const freshUrl = () => `${cluster.url}?schema=bench_${++schemaCount}`;
  const raw = new pg.Client({ connectionString: cluster.url });
  await raw.connect();
  await raw.query('CREATE TABLE raw_events (name text, seq bigint, type smallint, epoch bigint, payload bytea, crc bigint, PRIMARY KEY (name, seq))');
  let rawRun = 0;

  /** A fresh store and an open checkpoint in it (its own schema, so every round starts alike). */
  async function openFresh(options = {}) {
    const store = await adapter.PostgresStore.connect(freshUrl(), { host: 'bench', compaction: false, ...options });
    const checkpoint = await store.open({ name: 'bench', identity, usage: 'if-exists', save: true });
    return { store, checkpoint };
  }

  try {
    // 1. Durable append.
    const events = ctx.quick ? 20 : 400;
    const perSecond = (count, ms) => (count / ms) * 1000;
    const durable = await alternate(
      [
        {
          key: 'ckpt',
          async run() {
            const { store, checkpoint } = await openFresh();
            const start = performance.now();
            for (let i = 0; i < events; i++) await checkpoint.log.append([eventAt(i)], { durability: 'durable' });
            const ms = performance.now() - start;
            await checkpoint.close({ remove: false });
            await store.close();
            return perSecond(events, ms);
          },
        },
        {
          key: 'fenced',
          async run() {
            // ckpt's schema and owner row (opened by the store), then the same fenced statement from a bare client.
            const { store, checkpoint } = await openFresh();
            const S = `"bench_${schemaCount}"`;
            const { rows } = await raw.query(`SELECT epoch FROM ${S}.owners WHERE name = 'bench'`);
            const epoch = Number(rows[0].epoch);
            const first = (await raw.query(`SELECT coalesce(max(seq), 0) AS seq FROM ${S}.events WHERE name = 'bench'`)).rows[0].seq;
            const fenced = new pg.Client({ connectionString: cluster.url });
            await fenced.connect();
            const start = performance.now();
            for (let i = 0; i < events; i++) {
              const payload = packr.pack([eventAt(i)]);
              const batch = [{ seq: Number(first) + i + 1, type: 2, payload }];
              await fenced.query(appendStatement(S, 'bench', epoch, 30_000, batch, { attempts: 1, retentionMs: undefined, changed: false }));
            }
            const ms = performance.now() - start;
            await fenced.end();
            await checkpoint.close({ remove: false });
            await store.close();
            return perSecond(events, ms);
          },
        },
        {
          key: 'raw',
          async run() {
            const name = `raw-${rawRun++}`;
            const start = performance.now();
            for (let i = 0; i < events; i++) {
              const payload = Buffer.from(packr.pack([eventAt(i)]));
              await raw.query('INSERT INTO raw_events VALUES ($1, $2, 2, 1, $3, $4)', [name, i + 1, payload, crc32(payload)]);
            }
            return perSecond(events, performance.now() - start);
          },
        },
      ],
      { rounds, warmup: 1 },
    );
    const durableFig = figure({
      id: 'pg-durable-append',
      label: `${events} sequential durable appends of one event`,
      unit: 'events/s',
      better: 'higher',
      rows: [
        {
          key: 'ckpt',
          label: 'ckpt PgLog.append durable (fenced: owner row + event row + checkpoint row, one statement)',
          role: 'subject',
          samples: durable.ckpt,
        },
        { key: 'raw', label: 'raw node-postgres INSERT, autocommit (one row, one commit)', samples: durable.raw },
        {
          key: 'fenced',
          label: "ckpt's fenced append statement from a bare node-postgres client (what fencing costs, without ckpt)",
          samples: durable.fenced,
        },
      ],
    });

    // 2. Group commit.
    const writers = ctx.quick ? [8] : [8, 64, 256];
    const groupFigures = [];
    const groupGoals = [];
    for (const n of writers) {
      const perWriter = ctx.quick ? 5 : Math.max(10, Math.round(4000 / n));
      const total = n * perWriter;
      const samples = await alternate(
        [
          {
            key: 'ckpt',
            async run() {
              const { store, checkpoint } = await openFresh();
              const start = performance.now();
              await Promise.all(
                Array.from({ length: n }, async (_, w) => {
                  for (let i = 0; i < perWriter; i++) await checkpoint.log.append([eventAt(w * perWriter + i)], { durability: 'durable' });
                }),
              );
              const ms = performance.now() - start;
              await checkpoint.close({ remove: false });
              await store.close();
              return perSecond(total, ms);
            },
          },
          {
            key: 'raw',
            async run() {
              const name = `rawb-${rawRun++}`;
              const start = performance.now();
              for (let b = 0; b < perWriter; b++) {
                const seqs = Array.from({ length: n }, (_, k) => b * n + k + 1);
                const payloads = seqs.map((s) => Buffer.from(packr.pack([eventAt(s)])));
                await raw.query(
                  'INSERT INTO raw_events SELECT $1, s, 2, 1, p, c FROM unnest($2::bigint[], $3::bytea[], $4::bigint[]) AS u(s, p, c)',
                  [name, seqs, payloads, payloads.map((p) => crc32(p))],
                );
              }
              return perSecond(total, performance.now() - start);
            },
          },
        ],
        { rounds, warmup: 1 },
      );
      const fig = figure({
        id: `pg-group-commit-${n}`,
        label: `${n} concurrent durable appenders, ${perWriter} appends each`,
        unit: 'events/s',
        better: 'higher',
        rows: [
          { key: 'ckpt', label: `ckpt, ${n} appenders (group commit)`, role: 'subject', samples: samples.ckpt },
          { key: 'raw', label: `raw INSERT … unnest, batches of ${n}`, samples: samples.raw },
        ],
      });
      groupFigures.push(fig);
      groupGoals.push(
        goal({
          text: `group commit, ${n} appenders ≥ 0.8× raw batched inserts`,
          figure: fig,
          subject: 'ckpt',
          peer: 'raw',
          op: '>=',
          threshold: 0.8,
        }),
      );
    }

    // 3. Resume against history length, compacted as written (the default threshold).
    const [smallLength, largeLength] = ctx.quick ? [1_000, 10_000] : [10_000, 1_000_000];
    const buildHistory = async (length) => {
      const url = freshUrl();
      const store = await adapter.PostgresStore.connect(url, { host: 'bench' });
      const checkpoint = await store.open({ name: 'bench', identity, usage: 'if-exists', save: true });
      for (let i = 0; i < length; i++) {
        const done = checkpoint.log.append([eventAt(i)], { durability: 'buffered' });
        if (i % 5_000 === 4_999) {
          await done;
          await checkpoint.log.sync();
        }
      }
      await checkpoint.close({ remove: false });
      await store.close();
      return url;
    };
    ctx.log(`  building histories of ${smallLength} and ${largeLength} events`);
    const t0 = performance.now();
    const smallUrl = await buildHistory(smallLength);
    const largeUrl = await buildHistory(largeLength);
    ctx.log(`  built in ${Math.round(performance.now() - t0)} ms`);
    const resumeOnce = async (url) => {
      const store = await adapter.PostgresStore.connect(url, { host: 'bench' });
      const start = performance.now();
      const checkpoint = await store.open({ name: 'bench', identity, usage: 'if-exists', save: true });
      const ms = performance.now() - start;
      await checkpoint.close({ remove: false });
      await store.close();
      return ms;
    };
    const resume = await alternate(
      [
        { key: 'large', run: () => resumeOnce(largeUrl) },
        { key: 'small', run: () => resumeOnce(smallUrl) },
      ],
      { rounds, warmup: 1 },
    );
    const resumeFig = figure({
      id: 'pg-resume',
      label: 'open for a run (ownership, snapshot + tail read and folded, epoch committed)',
      unit: 'ms',
      better: 'lower',
      rows: [
        { key: 'large', label: `resume of ${largeLength} events (compacted)`, role: 'subject', samples: resume.large },
        { key: 'small', label: `resume of ${smallLength} events (compacted)`, samples: resume.small },
      ],
    });

    // 4. Failover through the CLI: kill -9 of the owner → first step of the new owner.
    const failoverRounds = ctx.quick ? 1 : 3;
    const dir = join(ctx.tmp, 'failover');
    mkdirSync(dir, { recursive: true });
    const steps = ['s1', 's2', 's3', 's4'];
    writeFileSync(
      join(dir, 'job.yaml'),
      `${['id: job', 'version: 1', 'checkpoint: { usage: if-exists, save: true }', 'steps:']
        .concat(steps.map((s, i) => `  - { id: ${s}, exec: [sh, -c, 'echo "start ${i + 1} $(date +%s%3N)" >> job.log; sleep 1'] }`))
        .join('\n')}\n`,
    );
    // --quick (the bench test) takes the standby only: each failover spawns two CLI processes.
    const failover = await alternate(
      [
        { key: 'standby', run: () => failoverOnce(ctx, dir, freshUrl(), true) },
        { key: 'cold', available: !ctx.quick, run: () => failoverOnce(ctx, dir, freshUrl(), false) },
      ],
      { rounds: failoverRounds, warmup: 0 },
    );
    const failoverFig = figure({
      id: 'pg-failover',
      label: 'kill -9 of the owner → first step started by the new owner (ckpt run --store, another $CKPT_HOST)',
      unit: 'ms',
      better: 'lower',
      rows: [
        { key: 'standby', label: 'a standby already waiting (ckpt run --wait 60s)', role: 'subject', samples: failover.standby },
        ctx.quick
          ? {
              key: 'cold',
              label: 'a rerun started right after the kill (Node start-up included)',
              available: false,
              reason: 'not measured with --quick',
            }
          : { key: 'cold', label: 'a rerun started right after the kill (Node start-up included)', samples: failover.cold },
      ],
    });

    return {
      params: { events, writers, smallLength, largeLength, rounds, failoverRounds, server: harness.pgBinaries.version },
      figures: [durableFig, ...groupFigures, resumeFig, failoverFig],
      goals: [
        goal({ text: 'durable append ≥ 0.9× raw INSERT … COMMIT', figure: durableFig, subject: 'ckpt', peer: 'raw', op: '>=', threshold: 0.9 }),
        goal({
          text: 'informational: the fenced statement alone vs raw INSERT … COMMIT (the price of fencing, the ceiling of the goal above)',
          figure: durableFig,
          subject: 'fenced',
          peer: 'raw',
          op: '>=',
          threshold: 0.9,
        }),
        goal({
          text: 'informational: durable append ≥ 0.9× the same fenced statement from a bare client (what ckpt adds)',
          figure: durableFig,
          subject: 'ckpt',
          peer: 'fenced',
          op: '>=',
          threshold: 0.9,
        }),
        ...groupGoals,
        goal({
          text: `resume of ${largeLength} events ≤ 3× that of ${smallLength} (snapshots)`,
          figure: resumeFig,
          subject: 'large',
          peer: 'small',
          op: '<=',
          threshold: 3,
        }),
        goal({
          text: 'failover to a waiting standby ≤ 2000 ms',
          figure: failoverFig,
          subject: 'standby',
          kind: 'absolute',
          op: '<=',
          threshold: 2000,
        }),
      ],
    };
  } finally {
    await raw.end().catch(() => undefined);
    await cluster.destroy();
  }
}

function startsIn(dir) {
  const file = join(dir, 'job.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('start '))
    .map((line) => ({ step: Number(line.split(' ')[1]), at: Number(line.split(' ')[2]) }));
}

function ckptProcess(ctx, dir, args, host) {
  const child = spawn(process.execPath, [ctx.paths.cliMain, ...args], {
    cwd: dir,
    stdio: 'ignore',
    env: { ...process.env, NO_COLOR: '1', CKPT_HOST: host },
  });
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited };
}

async function waitFor(check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('failover: timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One failover: the owner runs until step 2 starts, is killed, and the new owner's first step start is timed. */
async function failoverOnce(ctx, dir, url, standby) {
  writeFileSync(join(dir, 'job.log'), '');
  const first = ckptProcess(ctx, dir, ['run', 'job.yaml', '--store', url], 'machine-a');
  await waitFor(() => startsIn(dir).some((s) => s.step === 1));
  const spawnedAt = Date.now();
  const second = standby ? ckptProcess(ctx, dir, ['run', 'job.yaml', '--store', url, '--wait', '60s'], 'machine-b') : undefined;
  // Kill in step 2, once a standby has had time to start and reach its wait loop.
  await waitFor(() => startsIn(dir).some((s) => s.step === 2) && (!standby || Date.now() - spawnedAt > 2500));
  first.child.kill('SIGKILL');
  const killedAt = Date.now();
  await first.exited;
  const rerun = second ?? ckptProcess(ctx, dir, ['run', 'job.yaml', '--store', url], 'machine-b');
  const code = await rerun.exited;
  if (code !== 0) throw new Error(`failover: the new owner exited ${code}`);
  const after = startsIn(dir).filter((s) => s.at >= killedAt);
  if (after.length === 0) throw new Error('failover: the new owner started no step');
  return after[0].at - killedAt;
}
