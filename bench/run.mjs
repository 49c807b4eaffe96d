#!/usr/bin/env node
/**
 * ckpt benchmarks: `node bench/run.mjs [--quick] [--suite NAME[,NAME]] [--out DIR]
 * [--no-install] [--no-diagnose] [--keep-tmp]`. See bench/README.md.
 *
 * Writes <out>/results/<date>-<host>[-quick].json, regenerates <out>/RESULTS.md (or
 * RESULTS-quick.md for --quick) and the SVG charts in <out>/charts/. <out> defaults to bench/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ckptPaths, loadCore, loadMsgpackr } from './lib/ckpt.mjs';
import { cpuProfileSummary, straceSummary } from './lib/diagnose.mjs';
import { gitFacts, machineFacts } from './lib/machine.mjs';
import { renderResults } from './lib/report.mjs';
import { ensureRsync, hasCommand, loadSqlite } from './lib/setup.mjs';
import { lineChart } from './lib/svg.mjs';
import { SUITES } from './suites/index.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, '..');

const USAGE = `usage: node bench/run.mjs [options]
  --quick            every suite, small: a few seconds (used by bench/bench.test.ts)
  --suite NAME       run only these suites (repeatable or comma-separated): ${SUITES.map((s) => s.id).join(', ')}
  --out DIR          write results/, RESULTS.md and charts/ under DIR (default bench/)
  --no-install       do not npm-install better-sqlite3 nor apt-get install rsync; missing peers are recorded unavailable
  --no-diagnose      skip strace/profile runs for missed goals
  --keep-tmp         keep the temporary directory
  --tmp DIR          parent of the temporary directory (default: the OS temp dir)
  --cli FILE         the ckpt CLI entry to drive (default packages/cli/bin/ckpt.js), e.g. another build's
  --render FILE      run nothing: regenerate RESULTS.md and the charts from an existing result file`;

function parseArgs(argv) {
  const options = { quick: false, suites: [], out: benchDir, install: true, diagnose: true, keepTmp: false, tmp: os.tmpdir() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--')
      continue; // `pnpm bench -- --quick` may pass the separator through
    else if (arg === '--quick') options.quick = true;
    else if (arg === '--suite') options.suites.push(...value().split(','));
    else if (arg.startsWith('--suite=')) options.suites.push(...arg.slice(8).split(','));
    else if (arg === '--out') options.out = resolve(value());
    else if (arg === '--tmp') options.tmp = resolve(value());
    else if (arg === '--cli') options.cli = resolve(value());
    else if (arg === '--render') options.render = resolve(value());
    else if (arg === '--no-install') options.install = false;
    else if (arg === '--no-diagnose') options.diagnose = false;
    else if (arg === '--keep-tmp') options.keepTmp = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  const unknown = options.suites.filter((name) => !SUITES.some((s) => s.id === name || String(s.number) === name));
  if (unknown.length > 0) throw new Error(`unknown suite(s) ${unknown.join(', ')}; the suites are ${SUITES.map((s) => s.id).join(', ')}`);
  return options;
}

const log = (message) => process.stderr.write(`[bench] ${message}\n`);

/** 2026-11-29T0215Z: sortable, one file per run. */
function stamp(date) {
  return `${date
    .toISOString()
    .slice(0, 16)
    .replace(':', '')
    .replace(/-(\d\d)T/, '-$1T')}Z`;
}

/** Writes RESULTS.md (RESULTS-quick.md) and the charts of `result` under `out`; returns the Markdown path. */
function writeReport(result, resultFile, out) {
  const suffix = result.mode === 'quick' ? '-quick' : '';
  const chartsDir = join(out, 'charts');
  fs.mkdirSync(chartsDir, { recursive: true });
  for (const suite of result.suites) {
    for (const chart of suite.charts ?? []) fs.writeFileSync(join(chartsDir, chart.file.replace(/\.svg$/, `${suffix}.svg`)), lineChart(chart));
  }
  const resultsMd = join(out, `RESULTS${suffix}.md`);
  fs.writeFileSync(
    resultsMd,
    renderResults(result, {
      resultFile: relative(out, resultFile),
      chartPath: (file) => `charts/${file.replace(/\.svg$/, `${suffix}.svg`)}`,
    }),
  );
  return resultsMd;
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
    return 2;
  }
  if (options.render) {
    const result = JSON.parse(fs.readFileSync(options.render, 'utf8'));
    writeReport(result, options.render, options.out);
    log(`rendered ${options.render}`);
    return 0;
  }
  const started = new Date();
  const paths = { ...ckptPaths(root), ...(options.cli && { cliMain: options.cli, cliBundle: undefined }) };
  const core = await loadCore(paths);
  const msgpackr = loadMsgpackr(root);
  const tmp = fs.mkdtempSync(join(options.tmp, 'ckpt-bench-'));
  log(`${options.quick ? 'quick' : 'full'} run in ${tmp}`);
  const machine = machineFacts(tmp);
  const sqlite = loadSqlite(benchDir, { install: options.install, log });
  const rsync = ensureRsync({ install: options.install, log });
  const strace = hasCommand('strace');
  const peers = {
    sqlite: sqlite.available ? { available: true, version: sqlite.version } : { available: false, reason: sqlite.reason },
    rsync: rsync.available ? { available: true, version: rsync.version } : { available: false, reason: rsync.reason },
    strace: strace ? { available: true, version: 'strace' } : { available: false, reason: 'not installed' },
  };
  for (const [name, peer] of Object.entries(peers)) log(`${name}: ${peer.available ? peer.version : `unavailable (${peer.reason})`}`);

  const selected =
    options.suites.length === 0 ? SUITES : SUITES.filter((s) => options.suites.includes(s.id) || options.suites.includes(String(s.number)));
  const suites = [];
  for (const suite of selected) {
    const suiteTmp = fs.mkdtempSync(join(tmp, `${suite.id}-`));
    const ctx = {
      quick: options.quick,
      root,
      paths,
      core,
      msgpackr,
      sqlite,
      rsync,
      tmp: suiteTmp,
      log,
      diagnose: async (work) => ({
        strace: straceSummary(work, { tmp: suiteTmp, strace }),
        ...(work.peerScript && {
          peerStrace: straceSummary({ label: work.peerLabel, events: work.events, script: work.peerScript }, { tmp: suiteTmp, strace }),
        }),
        profile: cpuProfileSummary(work, { tmp: suiteTmp, root }),
      }),
      profile: async (work) => ({ profile: cpuProfileSummary(work, { tmp: suiteTmp, root }) }),
    };
    const t0 = performance.now();
    log(`suite ${suite.number} ${suite.id}: ${suite.title}`);
    let entry;
    try {
      const result = await suite.run(ctx);
      const rows = result.figures.flatMap((f) => f.rows);
      const subjects = rows.filter((r) => r.role === 'subject');
      const status = rows.every((r) => r.available) ? 'measured' : subjects.some((r) => r.available) ? 'partial' : 'unavailable';
      entry = { id: suite.id, number: suite.number, title: suite.title, status, params: result.params, figures: result.figures, goals: result.goals };
      if (result.availability) entry.availability = result.availability;
      if (result.extra) entry.extra = result.extra;
      if (result.charts?.length) entry.charts = result.charts;
      const missed = result.goals.filter((g) => g.met === false);
      if (missed.length > 0 && options.diagnose && !options.quick && result.diagnose) {
        log(`  missed ${missed.length} goal(s): taking strace/profile figures`);
        try {
          entry.diagnosis = await result.diagnose();
        } catch (error) {
          entry.diagnosis = { error: error.message };
        }
      }
      for (const g of result.goals)
        log(`  ${g.met === true ? 'met   ' : g.met === false ? 'MISSED' : 'n/a   '} ${g.text}: ${g.measured ?? g.reason}`);
    } catch (error) {
      log(`  FAILED: ${error.stack ?? error}`);
      entry = {
        id: suite.id,
        number: suite.number,
        title: suite.title,
        status: 'failed',
        error: String(error.message ?? error),
        params: {},
        figures: [],
        goals: [],
      };
    }
    entry.durationMs = Math.round(performance.now() - t0);
    suites.push(entry);
    fs.rmSync(suiteTmp, { recursive: true, force: true });
  }

  const finished = new Date();
  const result = {
    schema: 1,
    tool: 'ckpt-bench',
    mode: options.quick ? 'quick' : 'full',
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished - started,
    host: machine.host,
    machine,
    git: gitFacts(root),
    peers,
    suites,
  };
  const resultsDir = join(options.out, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const resultFile = join(resultsDir, `${stamp(started)}-${machine.host}${options.quick ? '-quick' : ''}.json`);
  fs.writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  const resultsMd = writeReport(result, resultFile, options.out);
  if (!options.keepTmp) fs.rmSync(tmp, { recursive: true, force: true });
  log(`wrote ${resultFile} and ${resultsMd} in ${Math.round(result.durationMs / 1000)} s`);
  // The result file's path, alone on stdout, for scripts and the test.
  console.log(resultFile);
  return suites.some((s) => s.status === 'failed') ? 1 : 0;
}

process.exitCode = await main();
