/**
 * The data behind `nsa-bench report`: bench files, floors, ratios to a peers file, matching cases across
 * two runs, and roofline points. Pure functions (unit-tested); report/html.ts draws them.
 *
 * Peers file (JSON): an array of `{ op, case, us, source }` — `op` is the nsa-bench suite, `case` the
 * case name exactly as nsa-bench prints it, `us` the peer's time on the same GPU, `source` what was
 * measured (e.g. "sglang top-k v2, H100, 2026-11-28"). ../shared/PEERS.md's table is such a list.
 */
import * as fs from 'node:fs';
import type { BenchResult } from '../types';

export interface BenchFile {
  date: string;
  device: string;
  /** Measured copy bandwidth (bytes read + written), GB/s: the memory ceiling. */
  copyGBps: number;
  devices?: { name: string }[];
  backend?: { backend: string; reason: string };
  results: BenchResult[];
}

export interface PeerEntry {
  op: string;
  case: string;
  us: number;
  source: string;
}

/** Dense tensor-core peaks of the H100 SXM (TFLOP/s) used as compute ceilings. */
export const TENSOR_PEAK_TFLOPS = { f16: 989, fp8: 1979 } as const;

export function parseBench(text: string, name = 'bench file'): BenchFile {
  const j = JSON.parse(text) as Partial<BenchFile>;
  if (!j || !Array.isArray(j.results) || typeof j.copyGBps !== 'number') throw new Error(`${name}: not an nsa-bench --json file (needs results[] and copyGBps)`);
  return j as BenchFile;
}

export function loadBench(path: string): BenchFile {
  return parseBench(fs.readFileSync(path, 'utf8'), path);
}

export function parsePeers(text: string, name = 'peers file'): PeerEntry[] {
  const j = JSON.parse(text) as unknown;
  if (!Array.isArray(j)) throw new Error(`${name}: expected an array of { op, case, us, source }`);
  j.forEach((p, i) => {
    const e = p as PeerEntry;
    if (typeof e?.op !== 'string' || typeof e.case !== 'string' || typeof e.us !== 'number' || typeof e.source !== 'string')
      throw new Error(`${name}[${i}]: expected { op: string, case: string, us: number, source: string }`);
  });
  return j as PeerEntry[];
}

const key = (suite: string, c: string) => `${suite}\u0000${c}`;

/** µs a case cannot beat at the measured copy bandwidth (undefined without a byte count). */
export function floorUs(r: BenchResult, copyGBps: number): number | undefined {
  return r.bytes === undefined || copyGBps <= 0 ? undefined : r.bytes / (copyGBps * 1e3);
}

/** The peer entry for each case that has one, and our time / theirs (> 1: we are slower). */
export function peerRatios(results: BenchResult[], peers: PeerEntry[]): Map<string, { peer: PeerEntry; ratio: number }> {
  const byKey = new Map(peers.map((p) => [key(p.op, p.case), p]));
  const out = new Map<string, { peer: PeerEntry; ratio: number }>();
  for (const r of results) {
    const p = byKey.get(key(r.suite, r.case));
    if (p && p.us > 0) out.set(key(r.suite, r.case), { peer: p, ratio: r.us / p.us });
  }
  return out;
}

export function peerOf(map: Map<string, { peer: PeerEntry; ratio: number }>, r: BenchResult) {
  return map.get(key(r.suite, r.case));
}

export interface Change {
  suite: string;
  case: string;
  beforeUs: number;
  afterUs: number;
  /** after / before − 1: negative is faster. */
  change: number;
}

/** Cases present in both runs (matched by suite and case name), in the order of the second run. */
export function compareRuns(before: BenchFile, after: BenchFile): Change[] {
  const prev = new Map(before.results.map((r) => [key(r.suite, r.case), r]));
  const out: Change[] = [];
  for (const r of after.results) {
    const b = prev.get(key(r.suite, r.case));
    if (b && b.us > 0) out.push({ suite: r.suite, case: r.case, beforeUs: b.us, afterUs: r.us, change: r.us / b.us - 1 });
  }
  return out;
}

/**
 * Floating-point work of a case, where the op has a known count: MQA logits score every valid (row,
 * position) pair over H heads of D = 128 dims (2 · B · N · ctx · H · D); `extra.flops` wins when given.
 */
export function flopsOf(r: BenchResult): number | undefined {
  const given = r.extra?.flops;
  if (typeof given === 'number') return given;
  if (r.suite !== 'mqa-logits') return undefined;
  const m = /B=(\d+) ctx=(\d+)/.exec(r.case);
  if (!m) return undefined;
  const n = /N=(\d)/.exec(r.case);
  const h = /H=(\d+)/.exec(r.case);
  return 2 * Number(m[1]) * (n ? Number(n[1]) : 1) * Number(m[2]) * (h ? Number(h[1]) : 64) * 128;
}

export interface RooflinePoint {
  label: string;
  /** FLOP per byte moved. */
  intensity: number;
  tflops: number;
  gbps: number;
}

export function rooflinePoints(results: BenchResult[]): RooflinePoint[] {
  const pts: RooflinePoint[] = [];
  for (const r of results) {
    const flops = flopsOf(r);
    if (flops === undefined || r.bytes === undefined || r.us <= 0) continue;
    pts.push({ label: `${r.suite} ${r.case}`, intensity: flops / r.bytes, tflops: flops / r.us / 1e6, gbps: r.bytes / r.us / 1e3 });
  }
  return pts;
}

/** Results grouped by suite, in first-seen order. */
export function bySuite(results: BenchResult[]): [string, BenchResult[]][] {
  const m = new Map<string, BenchResult[]>();
  for (const r of results) (m.get(r.suite) ?? m.set(r.suite, []).get(r.suite)!).push(r);
  return [...m];
}
