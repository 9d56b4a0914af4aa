// The decode pipeline on several GPUs at once: one worker thread per GPU, each replaying its own
// graph. Threads rather than one thread over several streams: this is how a data-parallel server runs
// one indexer per GPU, each thread's host work (replays, synchronization, its own JS) never waits for
// another device's, and it exercises the addon as every thread loading it.
// Each round, all workers start on one signal; a GPU's time per step is its own interval / steps; the
// aggregate is (steps x GPUs) over the round's wall time (first start to last end), compared with the
// same harness on the first GPU alone. Medians over rounds.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Device } from '../../lib';
import { BenchContext, BenchResult } from '../types';
import type { WorkerJob, WorkerMessage } from './pipeline-worker';

interface Round {
  perDeviceUs: number[];
  wallUs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs the step on `devices` concurrently for `rounds` rounds of `steps` replays each. */
async function runConcurrently(devices: Device[], layers: number, steps: number, rounds: number): Promise<{ rounds: Round[]; name: string; layers: number }> {
  const go = new SharedArrayBuffer(4);
  const flag = new Int32Array(go);
  const workers = devices.map(
    (device) => new Worker(path.join(__dirname, 'pipeline-worker.js'), { workerData: { device, layers, steps, rounds, go } satisfies WorkerJob }),
  );
  // One queue of messages per worker; a worker's error or early exit fails the run.
  const queues = workers.map(() => [] as WorkerMessage[]);
  const waiters: (() => void)[] = [];
  let failure: Error | undefined;
  const wake = () => waiters.splice(0).forEach((w) => w());
  workers.forEach((w, i) => {
    w.on('message', (m: WorkerMessage) => (queues[i].push(m), wake()));
    w.on('error', (e) => ((failure ??= e), wake()));
    w.on('exit', (code) => (code !== 0 && (failure ??= new Error(`pipeline worker on ${devices[i]} exited with code ${code}`)), wake()));
  });
  const next = async (i: number): Promise<WorkerMessage> => {
    while (queues[i].length === 0) {
      if (failure) throw failure;
      await new Promise<void>((r) => waiters.push(r));
    }
    return queues[i].shift()!;
  };
  try {
    const ready = await Promise.all(workers.map((_, i) => next(i)));
    const first = ready[0] as Extract<WorkerMessage, { ready: true }>;
    const out: Round[] = [];
    for (let round = 0; round < rounds; round++) {
      Atomics.store(flag, 0, round + 1);
      Atomics.notify(flag, 0);
      const done = (await Promise.all(workers.map((_, i) => next(i)))) as Extract<WorkerMessage, { round: number }>[];
      const start = Math.min(...done.map((d) => d.startNs)), end = Math.max(...done.map((d) => d.endNs));
      out.push({ perDeviceUs: done.map((d) => (d.endNs - d.startNs) / 1e3 / steps), wallUs: (end - start) / 1e3 });
    }
    return { rounds: out, name: first.name, layers: first.layers };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function multiDevicePipeline(ctx: BenchContext, devices: Device[]): Promise<BenchResult[]> {
  const steps = 300, rounds = 7, n = devices.length;
  ctx.progress(`pipeline: ${devices[0]} alone (worker thread, ${rounds} x ${steps} steps)`);
  const alone = await runConcurrently([devices[0]], ctx.layers, steps, rounds);
  ctx.progress(`pipeline: ${n} GPUs concurrently (${devices.join(', ')})`);
  const all = await runConcurrently(devices, ctx.layers, steps, rounds);
  const aloneUs = median(alone.rounds.map((r) => r.wallUs / steps));
  const aggregateUs = median(all.rounds.map((r) => r.wallUs / (steps * n))); // wall time per step, all GPUs together
  const tag = `${all.layers} layers [${all.name}]`;
  const out: BenchResult[] = [
    { suite: 'pipeline', case: `decode step, ${tag}, 1 GPU (${devices[0]}, worker thread)`, device: devices[0], us: aloneUs, extra: { stepsPerSecond: Math.round(1e6 / aloneUs) } },
  ];
  devices.forEach((d, i) =>
    out.push({ suite: 'pipeline', case: `decode step, ${n} GPUs concurrently: ${d}`, device: d, us: median(all.rounds.map((r) => r.perDeviceUs[i])) }),
  );
  out.push({
    suite: 'pipeline',
    case: `decode step, ${n} GPUs aggregate (wall time / steps of all GPUs)`,
    device: devices.join('+'),
    us: aggregateUs,
    extra: { stepsPerSecond: Math.round(1e6 / aggregateUs), speedupOverOneGpu: +(aloneUs / aggregateUs).toFixed(3), gpus: n },
  });
  return out;
}
