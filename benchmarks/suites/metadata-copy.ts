// SPEC §1: fused metadata copy vs the per-tensor baseline, eager and replayed from a CUDA graph, plus
// the host cost of plan.run from JS.
import { MetadataMode, MetadataSet, prepareMetadataCopy, Stream, Tensor, type Device } from '../../lib';
import { gpuTime, graphTime, hostTime } from '../timing';
import { BenchResult, Suite, withFloor } from '../types';

const PAGE = 64;
const FLASHMLA_META = 1056;

export interface Shape {
  mode: MetadataMode;
  bs: number;
  maxLen: number;
  dsts: number;
  /** Query tokens per request (default 1 for decode, 2 for target_verify). */
  tokensPerRequest?: number;
}

/** A metadata set for the shape: all optional fields present (the heaviest real configuration). */
export function makeSet(s: Shape, device: Device): { set: MetadataSet; bytes: number; all: Tensor[] } {
  const rows = s.bs * (s.tokensPerRequest ?? (s.mode === 'decode' ? 1 : 2));
  const S = rows;
  const realW = Math.ceil(s.maxLen / PAGE);
  const i32 = (shape: number[]) => Tensor.full(shape, 7, { dtype: 'int32', device });
  const set: MetadataSet = {
    cacheSeqlens: i32([s.bs]),
    cuSeqlensK: i32([s.bs + 1]),
    pageTable: i32([rows, s.maxLen]),
    nsaCacheSeqlens: i32([S]),
    nsaCuSeqlensK: i32([S + 1]),
    realPageTable: i32([rows, realW]),
    flashmlaNumSplits: i32([S + 1]),
    flashmlaMetadata: i32([FLASHMLA_META]),
  };
  if (s.mode !== 'decode') set.seqlensExpanded = i32([S]);
  const all = Object.values(set) as Tensor[];
  // bytes copied per destination (cu arrays skip element 0)
  const elems = s.bs + s.bs + rows * s.maxLen + (s.mode !== 'decode' ? S : 0) + S + S + rows * realW + (S + 1) + FLASHMLA_META;
  return { set, bytes: elems * 4, all };
}

function shapes(quick: boolean): Shape[] {
  const out: Shape[] = [];
  for (const mode of ['decode', 'target_verify'] as const)
    for (const bs of quick ? [1, 64] : [1, 8, 64])
      for (const maxLen of quick ? [4096] : [4096, 32768])
        for (const dsts of quick ? [1, 3] : [1, 3, 8]) out.push({ mode, bs, maxLen, dsts });
  return out;
}

export const metadataCopySuite: Suite = {
  name: 'metadata-copy',
  description: 'fused metadata copy vs per-tensor copies (graph-replayed and eager) and plan.run host cost',
  inDefaultSet: true,
  async run(ctx) {
    const out: BenchResult[] = [];
    const gpu = ctx.device !== 'cpu';
    const list = gpu ? shapes(ctx.quick) : [{ mode: 'decode', bs: 8, maxLen: 4096, dsts: 3 } as Shape, { mode: 'decode', bs: 64, maxLen: 4096, dsts: 3 } as Shape];
    for (const s of list) {
      const name = `${s.mode} bs=${s.bs} len=${s.maxLen} dsts=${s.dsts}`;
      ctx.progress(`metadata-copy ${name}`);
      const src = makeSet(s, ctx.device);
      const dsts = Array.from({ length: s.dsts }, () => makeSet(s, ctx.device));
      const plan = prepareMetadataCopy(src.set, dsts.map((d) => d.set), { mode: s.mode });
      // bytes: source read once, written to each destination
      const bytes = src.bytes * (1 + s.dsts);
      const launchesPerTensor = plan.run({}, { strategy: 'per-tensor' });
      const host = hostTime(() => plan.run(), { iters: gpu ? 100 : 20, repeats: 7 });
      if (gpu) {
        const stream = Stream.create(ctx.device);
        const fusedGraph = graphTime(stream, () => plan.run({}, { stream }));
        const perGraph = graphTime(stream, () => plan.run({}, { stream, strategy: 'per-tensor' }), { callsPerGraph: 5 });
        const fusedEager = gpuTime(stream, () => plan.run({}, { stream }));
        const perEager = gpuTime(stream, () => plan.run({}, { stream, strategy: 'per-tensor' }), { iters: 10 });
        stream.synchronize();
        stream.dispose();
        out.push(withFloor({
          suite: 'metadata-copy', case: `${name} [graph x20]`, device: ctx.device, us: fusedGraph.us, bytes,
          baseline: 'per-tensor graph', baselineUs: perGraph.us,
          extra: { launches: 1, perTensorLaunches: launchesPerTensor, fusedEagerUs: +fusedEager.us.toFixed(2), perTensorEagerUs: +perEager.us.toFixed(2), planRunHostUs: +host.us.toFixed(2) },
        }, ctx));
      } else {
        out.push(withFloor({ suite: 'metadata-copy', case: `${name} [cpu]`, device: 'cpu', us: host.us, bytes, extra: { timing: 'host' } }, ctx));
      }
      for (const t of [...src.all, ...dsts.flatMap((d) => d.all)]) t.dispose();
    }
    return out;
  },
};
