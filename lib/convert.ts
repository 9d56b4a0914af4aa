/**
 * Elementwise float32 <-> bfloat16 / float8_e4m3fn on any device, with the same rounding as the scalar
 * helpers in dtype.ts. `intrinsic: true` uses CUDA's own conversion instructions instead (for tests).
 */
import { options } from './errors';
import { native } from './native';
import { nativeStream, Stream } from './runtime';
import { nativeOf, Tensor } from './tensor';

export function convert(src: Tensor, dst: Tensor, opts?: { intrinsic?: boolean; stream?: Stream }): Tensor {
  const o = options(opts);
  native.convert({ src: nativeOf(src, 'src'), dst: nativeOf(dst, 'dst'), intrinsic: o.intrinsic, stream: nativeStream(o.stream) });
  return dst;
}
