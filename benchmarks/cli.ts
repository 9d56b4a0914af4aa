#!/usr/bin/env node
/**
 * nsa-bench: benchmarks for nsa-kernels.
 *   nsa-bench info                      backend, devices, addon
 *   nsa-bench list                      suites (* = default set)
 *   nsa-bench run [suite...] [options]  run suites (default set when none named)
 * Options: --json FILE (results as JSON), --device cpu|cuda:N, --quick (fewer shapes), --layers N,
 *   --devices all|cuda:0,cuda:1 (the pipeline suite also runs one pipeline per listed GPU concurrently),
 *   --mode decode|verify|prefill (the pipeline suite's step: decode, target verify with next_n 4, or a
 *   prefill chunk through the indexer's ragged path).
 * Progress goes to stderr; the table to stdout. Without a GPU everything runs on the CPU paths.
 */
import * as fs from 'node:fs';
import { backend, defaultDevice, devices, type Device } from '../lib';
import { decodeStepSuite } from './suites/decode-step';
import { dispatcherSuite } from './suites/dispatcher';
import { indexerCacheSuite } from './suites/indexer-cache';
import { measureCopy, memcpySuite } from './suites/memcpy';
import { metadataCopySuite } from './suites/metadata-copy';
import { mqaLogitsSuite } from './suites/mqa-logits';
import { pipelineSuite } from './suites/pipeline';
import { prefillSuite } from './suites/prefill';
import { tensorSuite } from './suites/tensor';
import { topkSuite } from './suites/topk';
import { loadBench, parsePeers } from './report/data';
import { renderReport } from './report/html';
import { BenchContext, BenchResult, Suite } from './types';

export const SUITES: Suite[] = [pipelineSuite, memcpySuite, tensorSuite, metadataCopySuite, indexerCacheSuite, mqaLogitsSuite, topkSuite, decodeStepSuite, prefillSuite, dispatcherSuite];

interface Args {
  command: string;
  suites: string[];
  json?: string;
  device?: string;
  devices?: string;
  mode?: string;
  quick: boolean;
  layers: number;
  peers?: string;
  out?: string;
}

function usage(): string {
  return 'usage: nsa-bench [info | list | run [suite...] [--json FILE] [--device cpu|cuda:N] [--devices all|cuda:0,cuda:1] [--mode decode|verify|prefill] [--quick] [--layers N] | report BENCH.json... [--peers PEERS.json] [--out report.html]]';
}

export function parseArgs(argv: string[]): Args {
  const a: Args = { command: 'run', suites: [], quick: false, layers: 4 };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--json') a.json = argv[++i];
    else if (v === '--device') a.device = argv[++i];
    else if (v === '--devices') a.devices = argv[++i];
    else if (v === '--mode') a.mode = argv[++i];
    else if (v === '--quick') a.quick = true;
    else if (v === '--layers') a.layers = Number(argv[++i]);
    else if (v === '--peers') a.peers = argv[++i];
    else if (v === '--out') a.out = argv[++i];
    else if (v === '-h' || v === '--help') a.command = 'help';
    else if (v.startsWith('--')) throw new Error(`unknown option ${v}\n${usage()}`);
    else rest.push(v);
  }
  if (a.command !== 'help' && rest.length) a.command = rest.shift() as string;
  a.suites = rest;
  if (a.json === undefined && argv.includes('--json')) throw new Error(`--json needs a file name\n${usage()}`);
  if (a.mode !== undefined && !['decode', 'verify', 'prefill'].includes(a.mode)) throw new Error(`--mode needs decode, verify or prefill\n${usage()}`);
  if (a.devices === undefined && argv.includes('--devices')) throw new Error(`--devices needs 'all' or a list like cuda:0,cuda:1\n${usage()}`);
  if (!Number.isInteger(a.layers) || a.layers < 1) throw new Error('--layers needs a positive integer');
  return a;
}

function fmt(v: number | undefined, digits = 2): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v >= 1000 ? v.toFixed(0) : v.toFixed(digits);
}

function bytesStr(b: number | undefined): string {
  if (b === undefined) return '-';
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MiB`;
  if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(1)} KiB`;
  return `${b} B`;
}

export function table(results: BenchResult[]): string {
  const rows = [['suite', 'case', 'µs', 'bytes', 'GB/s', '% floor', 'baseline µs', 'ratio']];
  for (const r of results)
    rows.push([r.suite, r.case, fmt(r.us), bytesStr(r.bytes), fmt(r.gbps, 1), r.pctOfFloor === undefined ? '-' : `${r.pctOfFloor.toFixed(0)}%`, fmt(r.baselineUs), r.ratio === undefined ? '-' : `${r.ratio.toFixed(1)}x`]);
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c < 2 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  ')).join('\n');
}

function info(): void {
  const b = backend();
  console.log(`backend: ${b.backend} (${b.reason})`);
  console.log(`addon:   ${b.addonPath} (compiled with GPU support: ${b.compiledWithGpu ? 'yes' : 'no'})`);
  for (const n of b.addonNotes) console.log(`note:    ${n}`);
  if (b.runtimeVersion) console.log(`runtime: ${b.runtimeVersion}, driver: ${b.driverVersion || 'none'}`);
  const all = devices();
  for (const d of all) {
    const peers = all.length < 2 ? '' : `, peer access: ${d.peers.length ? d.peers.map((p) => `cuda:${p}`).join(' ') : 'none (copies staged through the host)'}`;
    console.log(`cuda:${d.index}: ${d.name}, cc ${d.computeCapability} (${d.arch}), ${d.smCount} SMs, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, L2 ${(d.l2Bytes / 2 ** 20).toFixed(0)} MiB${peers}`);
  }
}

/** --devices: 'all' = every visible GPU, else a comma-separated list of cuda:N. */
function gpuList(spec: string): Device[] {
  const visible = devices().length;
  const list = spec === 'all' ? Array.from({ length: visible }, (_, i) => `cuda:${i}`) : spec.split(',').map((d) => d.trim());
  if (list.length === 0) throw new Error(`--devices ${spec}: no GPU visible (${backend().reason})`);
  for (const d of list) if (!/^cuda:\d+$/.test(d) || Number(d.slice(5)) >= visible) throw new Error(`--devices: ${d} is not a visible GPU (${visible} visible)`);
  return list as Device[];
}

async function run(a: Args): Promise<BenchResult[]> {
  const names = a.suites.length ? a.suites : SUITES.filter((s) => s.inDefaultSet).map((s) => s.name);
  const suites = names.map((n) => {
    const s = SUITES.find((x) => x.name === n);
    if (!s) throw new Error(`unknown suite '${n}' (nsa-bench list shows them)`);
    return s;
  });
  const device = (a.device ?? defaultDevice()) as Device;
  const ctx: BenchContext = {
    device,
    devices: a.devices === undefined ? undefined : gpuList(a.devices),
    mode: a.mode as BenchContext['mode'],
    quick: a.quick || device === 'cpu',
    copyBytesPerUs: 0,
    layers: a.layers,
    progress: (msg) => progress.update(msg),
  };
  const progress = new Progress(suites.length);
  ctx.progress(`calibrating copy bandwidth on ${device}`);
  ctx.copyBytesPerUs = measureCopy(ctx, device === 'cpu' ? 64 << 20 : 512 << 20).bytesPerUs;
  const results: BenchResult[] = [];
  for (const s of suites) {
    progress.startSuite(s.name);
    results.push(...(await s.run(ctx)));
  }
  progress.done();
  const b = backend();
  if (a.json) {
    fs.writeFileSync(
      a.json,
      JSON.stringify({ date: new Date().toISOString(), backend: b, devices: devices(), device, copyGBps: ctx.copyBytesPerUs / 1e3, quick: ctx.quick, results }, null, 2),
    );
  }
  console.log(`nsa-bench on ${device} (${b.backend}: ${b.reason}); floor = bytes / ${(ctx.copyBytesPerUs / 1e3).toFixed(0)} GB/s measured copy bandwidth`);
  console.log(table(results));
  return results;
}

/**
 * Progress on stderr: on a TTY one line redrawn in place (suite i of n, case count, elapsed); elsewhere
 * plain lines, one per case, so CI logs stay readable.
 */
class Progress {
  private suite = '';
  private index = 0;
  private cases = 0;
  private readonly start = Date.now();
  private readonly tty = process.stderr.isTTY === true;
  constructor(private readonly total: number) {}
  startSuite(name: string): void {
    this.suite = name;
    this.index++;
  }
  update(msg: string): void {
    if (this.index > 0) this.cases++;
    const elapsed = ((Date.now() - this.start) / 1e3).toFixed(1);
    const where = this.index > 0 ? `suite ${this.index}/${this.total} ${this.suite} · case ${this.cases} · ${elapsed} s` : `${elapsed} s`;
    if (this.tty) {
      const bar = '#'.repeat(Math.round((20 * Math.max(this.index - 1, 0)) / this.total)).padEnd(20, '.');
      process.stderr.write(`\r\x1b[K[${bar}] ${where} · ${msg}`);
    } else {
      process.stderr.write(`[nsa-bench] ${where} · ${msg}\n`);
    }
  }
  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}

function report(a: Args): void {
  const files = [a.command === 'report' ? a.suites : []].flat();
  if (files.length === 0 || files.length > 2) throw new Error(`report needs one bench file, or two for a before/after comparison\n${usage()}`);
  const html = renderReport(files.map(loadBench), a.peers ? parsePeers(fs.readFileSync(a.peers, 'utf8'), a.peers) : []);
  const out = a.out ?? 'report.html';
  fs.writeFileSync(out, html);
  console.log(`nsa-bench report: ${out} (${(html.length / 1024).toFixed(0)} KiB, self-contained)`);
}

export async function main(argv: string[]): Promise<number> {
  let a: Args;
  try {
    a = parseArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  switch (a.command) {
    case 'help':
      console.log(usage());
      return 0;
    case 'info':
      info();
      return 0;
    case 'list':
      for (const s of SUITES) console.log(`${s.inDefaultSet ? '*' : ' '} ${s.name.padEnd(16)} ${s.description}`);
      return 0;
    case 'run':
      await run(a);
      return 0;
    case 'report':
      report(a);
      return 0;
    default:
      console.error(`unknown command '${a.command}'\n${usage()}`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`nsa-bench: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
