// A worker thread of the multi-GPU pipeline benchmark (pipeline-devices.ts): builds the decode step on
// its device, captures it into a graph, posts 'ready', then for each round waits for the main thread's
// go (a shared counter), replays the graph `steps` times and posts the host interval it took.
import { parentPort, workerData } from 'node:worker_threads';
import { captureGraph, Stream, type Device } from '../../lib';
import { decodeStep } from './pipeline-step';

export interface WorkerJob {
  device: Device;
  layers: number;
  steps: number;
  rounds: number;
  /** Int32Array over a SharedArrayBuffer: [0] = the round the main thread has released. */
  go: SharedArrayBuffer;
}
export type WorkerMessage = { ready: true; name: string; layers: number } | { round: number; startNs: number; endNs: number };

const job = workerData as WorkerJob;
const go = new Int32Array(job.go);
const p = decodeStep(job.device, job.layers);
const stream = Stream.create(job.device);
p.step(stream); // warm: lazy set-up must not happen inside capture
stream.synchronize();
const graph = captureGraph(stream, () => p.step(stream));
for (let i = 0; i < 5; i++) graph.replay(stream);
stream.synchronize();
parentPort!.postMessage({ ready: true, name: p.name, layers: p.layers } satisfies WorkerMessage);
for (let round = 0; round < job.rounds; round++) {
  Atomics.wait(go, 0, round); // returns once the main thread stored round + 1
  const startNs = Number(process.hrtime.bigint());
  for (let i = 0; i < job.steps; i++) graph.replay(stream);
  stream.synchronize();
  parentPort!.postMessage({ round, startNs, endNs: Number(process.hrtime.bigint()) } satisfies WorkerMessage);
}
graph.dispose();
stream.dispose();
p.dispose();
