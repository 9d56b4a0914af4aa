import type { Device } from '../lib';

/** One row of benchmark output (one line of the table, one object of the JSON). */
export interface BenchResult {
  suite: string;
  case: string;
  device: string;
  /** Median µs per call of the measured path. */
  us: number;
  /** Bytes the op must move (each input read once, each output written once). */
  bytes?: number;
  /** Achieved bandwidth in GB/s. */
  gbps?: number;
  /** Physical floor in µs (bytes / measured copy bandwidth). */
  floorUs?: number;
  /** floorUs / us, in percent. */
  pctOfFloor?: number;
  /** The baseline path's µs and our speed-up over it. */
  baseline?: string;
  baselineUs?: number;
  ratio?: number;
  /** Anything else worth keeping (launch counts, host µs, ...). */
  extra?: Record<string, number | string>;
}

export interface BenchContext {
  device: Device;
  quick: boolean;
  /** Measured device (or host) copy bandwidth in bytes/µs, counting bytes read + written. */
  copyBytesPerUs: number;
  layers: number;
  /** --devices: the GPUs the pipeline suite also runs on concurrently (one worker thread each). */
  devices?: Device[];
  /** --mode: the pipeline suite's decode step (default), target-verify step (next_n 4) or prefill chunk. */
  mode?: 'decode' | 'verify' | 'prefill';
  progress(msg: string): void;
}

export interface Suite {
  name: string;
  description: string;
  /** Part of `nsa-bench run` with no suite named. */
  inDefaultSet: boolean;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

/** Fills gbps / floor / percent from bytes and the context's copy bandwidth. */
export function withFloor(r: BenchResult, ctx: BenchContext): BenchResult {
  if (r.bytes !== undefined && r.us > 0) {
    r.gbps = r.bytes / r.us / 1e3;
    r.floorUs = r.bytes / ctx.copyBytesPerUs;
    r.pctOfFloor = (100 * r.floorUs) / r.us;
  }
  if (r.baselineUs !== undefined && r.us > 0) r.ratio = r.baselineUs / r.us;
  return r;
}
