/** Error codes every op uses (SPEC §0). */
export type NsaErrorCode =
  | 'E_DTYPE'
  | 'E_SHAPE'
  | 'E_DEVICE'
  | 'E_RANGE'
  | 'E_DISPOSED'
  | 'E_GPU'
  | 'E_ARG'
  | 'E_UNSUPPORTED';

/**
 * The one error type of nsa-kernels. `message` names the argument, what it got and what was expected,
 * e.g. `k.dtype: got float32, expected bfloat16`. Native validation throws the same class.
 */
export class NsaError extends Error {
  readonly code: NsaErrorCode;
  constructor(code: NsaErrorCode, message: string) {
    super(message);
    this.name = 'NsaError';
    this.code = code;
  }
}

/** Throws `NsaError(code, "<arg>: got <got>, expected <expected>")`. */
export function fail(code: NsaErrorCode, arg: string, got: unknown, expected: string): never {
  throw new NsaError(code, `${arg}: got ${describe(got)}, expected ${expected}`);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (typeof v === 'string') return v;
  return String(v);
}

/** `v` if it is one of `choices`, else E_ARG naming them ('a' | 'b'). */
export function oneOf<T extends string>(v: T, arg: string, choices: readonly T[]): T {
  if (!choices.includes(v)) fail('E_ARG', arg, v, choices.map((c) => `'${c}'`).join(' | '));
  return v;
}

/** An options argument: `{}` when omitted; anything but an object (null, a number...) is E_ARG. */
export function options<T extends object>(v: T | undefined | null, arg = 'options'): T {
  if (v === undefined) return {} as T;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('E_ARG', arg, v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v, 'an options object');
  return v;
}
