/**
 * Timing helpers. GPU time: events around many calls (or around replays of a graph of many calls),
 * median of repeats. Host time: hrtime around many calls, median of repeats.
 */
import { captureGraph, Event, Stream } from '../lib';

export interface Timing {
  /** Median microseconds per call. */
  us: number;
  /** All repeat medians, for the JSON. */
  samples: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export interface TimingOptions {
  iters?: number;
  repeats?: number;
  warmup?: number;
}

/** GPU time per call of fn(i) issued eagerly on `stream` (includes launch gaps when host-bound). */
export function gpuTime(stream: Stream, fn: (i: number) => void, o: TimingOptions = {}): Timing {
  const iters = o.iters ?? 50, repeats = o.repeats ?? 7;
  for (let i = 0; i < (o.warmup ?? 5); i++) fn(i);
  const a = new Event(stream.device), b = new Event(stream.device);
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    a.record(stream);
    for (let i = 0; i < iters; i++) fn(i);
    b.record(stream);
    b.synchronize();
    samples.push((a.elapsedMs(b) * 1000) / iters);
  }
  a.dispose();
  b.dispose();
  return { us: median(samples), samples };
}

/**
 * GPU time per call when `callsPerGraph` calls are captured into one graph and the graph is replayed
 * (what a serving engine does each decode step). fn(i) gets the call index inside the graph.
 */
export function graphTime(stream: Stream, fn: (i: number) => void, o: TimingOptions & { callsPerGraph?: number } = {}): Timing {
  const calls = o.callsPerGraph ?? 20;
  fn(0); // warm: lazy module load must not happen inside capture
  stream.synchronize();
  const graph = captureGraph(stream, () => {
    for (let i = 0; i < calls; i++) fn(i);
  });
  try {
    const t = gpuTime(stream, () => graph.replay(stream), { iters: o.iters ?? 20, repeats: o.repeats ?? 7, warmup: 3 });
    return { us: t.us / calls, samples: t.samples.map((s) => s / calls) };
  } finally {
    graph.dispose();
  }
}

/** Host wall time per call (µs). */
export function hostTime(fn: (i: number) => void, o: TimingOptions = {}): Timing {
  const iters = o.iters ?? 200, repeats = o.repeats ?? 7;
  for (let i = 0; i < (o.warmup ?? 20); i++) fn(i);
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn(i);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / iters);
  }
  return { us: median(samples), samples };
}
