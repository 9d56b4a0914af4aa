/**
 * Jobs a test runs in a worker thread (started through ts-worker.js): `indexer` runs indexerStep for
 * each seed on its device and posts the results; `allocate` allocates `bytes` on its device, posts, and
 * exits without disposing (the thread's exit must free it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Tensor, type Device } from '../../lib';
import { indexerStep } from './indexer-step';

const job = workerData as { job: 'indexer'; device: Device; seeds: number[] } | { job: 'allocate'; device: Device; bytes: number };
if (job.job === 'indexer') {
  parentPort!.postMessage(job.seeds.map((seed) => indexerStep(job.device, seed)));
} else {
  const t = Tensor.empty([job.bytes], { dtype: 'uint8', device: job.device });
  parentPort!.postMessage({ allocated: t.byteLength });
}
