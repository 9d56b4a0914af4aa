// SPEC §5: the dispatcher's decision table.
import { planAttention, type ForwardMode } from '../lib';
import { expectNsaError } from './helpers';

const on = { denseSupported: true };

describe('SPEC §5 planAttention', () => {
  test.each(['decode', 'idle', 'target_verify', 'draft_extend'] as ForwardMode[])('%s -> MLA + paged indexer, whatever the lengths', (mode) => {
    for (const seqLens of [[1], [100, 5000], [200000]]) {
      const p = planAttention({ mode, seqLens }, on);
      expect([p.attention, p.indexer]).toEqual(['mla', 'paged']);
      expect(p.reasons.length).toBeGreaterThan(0);
      expect(p.queryTokens).toBe(seqLens.length);
    }
  });

  test('extend: max at, below and above the threshold', () => {
    expect(planAttention({ mode: 'extend', seqLens: [2048, 10] }, on)).toMatchObject({ attention: 'mha_one_shot', indexer: 'store_only', maxSeqLen: 2048, sumSeqLens: 2058 });
    expect(planAttention({ mode: 'extend', seqLens: [2047] }, on)).toMatchObject({ attention: 'mha_one_shot', indexer: 'store_only' });
    const above = planAttention({ mode: 'extend', seqLens: [2049, 3] }, on);
    expect(above).toMatchObject({ attention: 'mla', indexer: 'ragged' });
    expect(above.reasons.join(';')).toMatch(/max seq len 2049 > threshold 2048/);
  });

  test('extend: sum over the chunk capacity forces MLA (trivial when short)', () => {
    const p = planAttention({ mode: 'extend', seqLens: new Array(100).fill(2000) }, on);
    expect(p).toMatchObject({ attention: 'mla', indexer: 'trivial', sumSeqLens: 200000 });
    expect(p.reasons.join(';')).toMatch(/sum of seq lens 200000 > chunk capacity 131072/);
    expect(planAttention({ mode: 'extend', seqLens: [1000, 1000] }, { ...on, maxChunkCapacity: 1999 })).toMatchObject({ attention: 'mla', indexer: 'trivial' });
  });

  test('extend: context parallelism and an unsupported device force MLA', () => {
    expect(planAttention({ mode: 'extend', seqLens: [512] }, { ...on, contextParallel: true })).toMatchObject({ attention: 'mla', indexer: 'trivial' });
    const p = planAttention({ mode: 'extend', seqLens: [512] }, { denseSupported: false });
    expect(p).toMatchObject({ attention: 'mla', indexer: 'trivial' });
    expect(p.reasons.join(';')).toMatch(/not supported/);
  });

  test('threshold raised above top-k: the indexer skip follows the decision', () => {
    // dense up to 4096: a 3000-token prefill goes MHA and needs no logits at all
    expect(planAttention({ mode: 'extend', seqLens: [3000] }, { ...on, threshold: 4096 })).toMatchObject({ attention: 'mha_one_shot', indexer: 'store_only' });
    // the same batch on MLA must score (3000 > top-k)
    expect(planAttention({ mode: 'extend', seqLens: [3000] }, { threshold: 4096, denseSupported: false })).toMatchObject({ attention: 'mla', indexer: 'ragged' });
    // threshold below top-k: MLA with trivial indices in between
    expect(planAttention({ mode: 'extend', seqLens: [1500] }, { ...on, threshold: 1024 })).toMatchObject({ attention: 'mla', indexer: 'trivial' });
  });

  test('empty batch, extendLens and query counts', () => {
    const e = planAttention({ mode: 'extend', seqLens: [] }, on);
    expect(e).toMatchObject({ attention: 'mha_one_shot', indexer: 'store_only', maxSeqLen: 0, sumSeqLens: 0, queryTokens: 0 });
    expect(e.reasons[0]).toBe('empty batch');
    expect(planAttention({ mode: 'extend', seqLens: [5000, 10], extendLens: [100, 10] }, on).queryTokens).toBe(110);
    expect(planAttention({ mode: 'decode', seqLens: [] }, on)).toMatchObject({ attention: 'mla', indexer: 'paged', queryTokens: 0 });
  });

  test('bad input gets typed errors', () => {
    expectNsaError(() => planAttention({ mode: 'prefill' as never, seqLens: [1] }), 'E_ARG', /batch.mode: got prefill/);
    expectNsaError(() => planAttention({ mode: 'extend', seqLens: [1, -2] }), 'E_RANGE', /batch.seqLens\[1\]: got -2/);
    expectNsaError(() => planAttention({ mode: 'extend', seqLens: [1.5] }), 'E_RANGE', /seqLens\[0\]/);
    expectNsaError(() => planAttention({ mode: 'extend', seqLens: [4], extendLens: [5] }), 'E_RANGE', /extendLens\[0\]: got 5/);
    expectNsaError(() => planAttention({ mode: 'extend', seqLens: [4], extendLens: [1, 2] }), 'E_SHAPE', /extendLens.length/);
    expectNsaError(() => planAttention({ mode: 'extend', seqLens: [4] }, { threshold: 0 }), 'E_RANGE', /config.threshold/);
  });

  test('pure: same inputs, same plan; inputs untouched', () => {
    const lens = Int32Array.from([10, 3000, 20]);
    const a = planAttention({ mode: 'extend', seqLens: lens }, on);
    const b = planAttention({ mode: 'extend', seqLens: lens }, on);
    expect(a).toEqual(b);
    expect(Array.from(lens)).toEqual([10, 3000, 20]);
  });
});
