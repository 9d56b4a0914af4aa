/**
 * Elementwise float32 <-> bfloat16 / float8_e4m3fn on any device, with the same rounding as the scalar
 * helpers in dtype.ts. `intrinsic: true` uses CUDA's own conversion instructions instead (for tests).
 */
import { native } from './native';
import { Stream, streamHandle } from './runtime';
import { nativeOf, Tensor } from './tensor';

export function convert(src: Tensor, dst: Tensor, opts: { intrinsic?: boolean; stream?: Stream } = {}): Tensor {
  native.convert(nativeOf(src, 'src'), nativeOf(dst, 'dst'), { intrinsic: opts.intrinsic ?? false }, streamHandle(opts.stream, src.deviceIndex));
  return dst;
}
