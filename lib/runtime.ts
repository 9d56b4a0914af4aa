/**
 * Backend, devices, streams, events and CUDA graphs. Every op takes `{ stream }`; without one it runs
 * on the device's default stream (one non-blocking stream per device, owned by the library, so it
 * can be captured into a graph).
 */
import { fail, NsaError } from './errors';
import { addonNotes, addonPath, native, NativeDeviceInfo, NativeEvent, NativeGraph, NativeStream } from './native';

export type Backend = 'cuda' | 'hip' | 'cpu';
export type Device = 'cpu' | `cuda:${number}`;

export interface BackendInfo {
  backend: Backend;
  /** Why this backend: device count, `NSA_DEVICE=cpu`, or the driver error (e.g. cudaErrorInsufficientDriver). */
  reason: string;
  deviceCount: number;
  driverVersion: number;
  runtimeVersion: number;
  compiledWithGpu: boolean;
  /** The .node file that loaded (NSA_ADDON_PATH, the ROCm variant, build/Release or prebuilds/). */
  addonPath: string;
  /** Binaries that were present but not used, and why (e.g. the ROCm variant without /dev/kfd). */
  addonNotes: string[];
}

export type DeviceInfo = NativeDeviceInfo;

let cachedBackend: BackendInfo | undefined;

/** Which backend the loaded addon runs on, and why. With no driver or no device it reports 'cpu'. */
export function backend(): BackendInfo {
  cachedBackend ??= { ...native.backend(), addonPath, addonNotes: [...addonNotes] };
  return cachedBackend;
}

/** True when a GPU backend is active (not forced off by `NSA_DEVICE=cpu`). */
export function gpuAvailable(): boolean {
  return backend().backend !== 'cpu';
}

/** Name, compute capability, SM count, memory and L2 of each visible GPU ([] on CPU). */
export function devices(): DeviceInfo[] {
  return native.devices();
}

/** 'cuda:0' when a GPU backend is active, else 'cpu'. */
export function defaultDevice(): Device {
  return gpuAvailable() ? 'cuda:0' : 'cpu';
}

/** Parses 'cpu' | 'cuda' | 'cuda:N' to -1 | N, checking N against the visible devices. */
export function deviceIndex(device: string, arg = 'device'): number {
  if (typeof device !== 'string') fail('E_DEVICE', arg, device === null ? 'null' : typeof device, "'cpu' or 'cuda:N'");
  if (device === 'cpu') return -1;
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) fail('E_DEVICE', arg, device, "'cpu' or 'cuda:N'");
  const idx = m[1] === undefined ? 0 : Number(m[1]);
  const b = backend();
  if (b.backend === 'cpu') throw new NsaError('E_DEVICE', `${arg}: got ${device}, but no GPU backend is active (${b.reason})`);
  if (idx >= b.deviceCount) fail('E_DEVICE', arg, device, `one of cuda:0..cuda:${b.deviceCount - 1}`);
  return idx;
}

export function deviceName(index: number): Device {
  return index < 0 ? 'cpu' : `cuda:${index}`;
}

/** A GPU stream. `Stream.default(device)` is the library's default stream of a device. */
export class Stream {
  /** The native stream object ops receive (never a raw handle). */
  readonly native: NativeStream;
  readonly deviceIndex: number;
  private readonly owned: boolean;
  private disposed = false;

  private constructor(nativeStream: NativeStream, owned: boolean) {
    this.native = nativeStream;
    this.deviceIndex = nativeStream.device;
    this.owned = owned;
  }

  /** A new non-blocking stream on `device` (default 'cuda:0'). */
  static create(device: Device | string = 'cuda:0'): Stream {
    const idx = deviceIndex(device);
    if (idx < 0) fail('E_DEVICE', 'device', device, 'a GPU device for a stream');
    return new Stream(new native.Stream({ device: idx }), true);
  }

  /** The library's default stream of a device (never disposed). */
  static default(device: Device | string = 'cuda:0'): Stream {
    const idx = deviceIndex(device);
    if (idx < 0) fail('E_DEVICE', 'device', device, 'a GPU device for a stream');
    return new Stream(native.defaultStream({ device: idx }), false);
  }

  get device(): Device {
    return deviceName(this.deviceIndex);
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Blocks until all work queued on the stream has finished. */
  synchronize(): void {
    this.check();
    this.native.synchronize();
  }

  /** Resolves when all work queued so far has finished (waits on a worker thread). */
  synchronized(): Promise<void> {
    this.check();
    return this.native.synchronized();
  }

  /** Whether the stream is being captured into a graph. */
  get capturing(): boolean {
    this.check();
    return this.native.isCapturing();
  }

  /** Makes later work on this stream wait for `event`. */
  wait(event: Event): void {
    this.check();
    if (!(event instanceof Event)) fail('E_ARG', 'event', typeof event, 'an Event');
    this.native.waitEvent(event.native);
  }

  /** Work already queued finishes; any later use (ops, graphs replayed on it) is E_DISPOSED. */
  dispose(): void {
    if (this.disposed || !this.owned) return;
    this.disposed = true;
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  private check(): void {
    if (this.disposed) throw new NsaError('E_DISPOSED', 'stream: used after dispose()');
  }
}

/**
 * The native stream an op runs on: the given Stream's, or undefined (the op's device's default stream).
 * Anything that is not a Stream is E_ARG; the native side checks disposal and the device (E_DEVICE).
 */
export function nativeStream(stream: unknown, arg = 'stream'): NativeStream | undefined {
  if (stream === undefined) return undefined;
  if (!(stream instanceof Stream)) fail('E_ARG', arg, stream === null ? 'null' : typeof stream, 'a Stream (Stream.create / Stream.default)');
  return stream.native;
}

/** A GPU event for ordering and timing. */
export class Event {
  readonly native: NativeEvent;
  private disposed = false;
  constructor(device: Device | string = 'cuda:0') {
    const idx = deviceIndex(device);
    if (idx < 0) fail('E_DEVICE', 'device', device, 'a GPU device for an event');
    this.native = new native.Event({ device: idx });
  }
  record(stream: Stream): this {
    this.check();
    this.native.record(nativeStream(stream) ?? fail('E_ARG', 'stream', 'undefined', 'a Stream'));
    return this;
  }
  synchronize(): void {
    this.check();
    this.native.synchronize();
  }
  /** Milliseconds from this event to `end` (both recorded and complete). */
  elapsedMs(end: Event): number {
    this.check();
    if (!(end instanceof Event)) fail('E_ARG', 'end', typeof end, 'an Event');
    return this.native.elapsedMs(end.native);
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  private check(): void {
    if (this.disposed) throw new NsaError('E_DISPOSED', 'event: used after dispose()');
  }
}

/**
 * An instantiated CUDA graph (made by captureGraph); `replay()` launches it on a stream. Replaying on a
 * disposed stream is E_DISPOSED.
 */
export class Graph {
  readonly stream: Stream;
  private exec: NativeGraph | undefined;
  /** @internal captureGraph() makes graphs; a graph cannot be built from a handle. */
  constructor(exec: NativeGraph, stream: Stream) {
    if (!(stream instanceof Stream)) fail('E_ARG', 'stream', typeof stream, 'a Stream');
    if (exec === null || typeof exec !== 'object' || typeof (exec as NativeGraph).launch !== 'function') fail('E_ARG', 'graph', typeof exec, 'a graph made by captureGraph()');
    this.exec = exec;
    this.stream = stream;
  }
  replay(stream: Stream = this.stream): void {
    if (this.exec === undefined) throw new NsaError('E_DISPOSED', 'graph: used after dispose()');
    if (!(stream instanceof Stream)) fail('E_ARG', 'stream', typeof stream, 'a Stream');
    if (stream.isDisposed) throw new NsaError('E_DISPOSED', 'graph.replay: the stream was disposed');
    this.exec.launch(stream.native);
  }
  dispose(): void {
    const e = this.exec;
    this.exec = undefined;
    e?.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Captures the GPU work `fn` issues on `stream` into a graph (thread-local capture mode). Ops inside
 * must be given `{ stream }`. Host synchronization inside `fn` is an error. The capture is always ended,
 * also when `fn` throws.
 */
export function captureGraph(stream: Stream, fn: () => void): Graph {
  if (!(stream instanceof Stream)) fail('E_ARG', 'stream', stream === null ? 'null' : typeof stream, 'a Stream');
  if (typeof fn !== 'function') fail('E_ARG', 'fn', typeof fn, 'a function issuing the work to capture');
  if (stream.isDisposed) throw new NsaError('E_DISPOSED', 'captureGraph: the stream was disposed');
  stream.native.beginCapture();
  try {
    fn();
  } catch (err) {
    // End the (possibly invalidated) capture so the stream is usable again; report fn's error.
    try {
      stream.native.endCapture().dispose();
    } catch {
      /* the capture was already invalid */
    }
    throw err;
  }
  return new Graph(stream.native.endCapture(), stream);
}
