/**
 * Backend, devices, streams, events and CUDA graphs. Every op takes `{ stream }`; without one it runs
 * on the device's default stream (one non-blocking stream per device, owned by the library, so it
 * can be captured into a graph).
 */
import { fail, NsaError } from './errors';
import { addonNotes, addonPath, native, NativeDeviceInfo } from './native';

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
  readonly handle: number;
  readonly deviceIndex: number;
  private readonly owned: boolean;
  private disposed = false;

  private constructor(handle: number, deviceIndex: number, owned: boolean) {
    this.handle = handle;
    this.deviceIndex = deviceIndex;
    this.owned = owned;
  }

  /** A new non-blocking stream on `device` (default 'cuda:0'). */
  static create(device: Device | string = 'cuda:0'): Stream {
    const idx = deviceIndex(device);
    if (idx < 0) fail('E_DEVICE', 'device', device, 'a GPU device for a stream');
    return new Stream(native.streamCreate(idx), idx, true);
  }

  /** The library's default stream of a device (never disposed). */
  static default(device: Device | string = 'cuda:0'): Stream {
    const idx = deviceIndex(device);
    if (idx < 0) fail('E_DEVICE', 'device', device, 'a GPU device for a stream');
    return new Stream(native.defaultStream(idx), idx, false);
  }

  get device(): Device {
    return deviceName(this.deviceIndex);
  }

  /** Blocks until all work queued on the stream has finished. */
  synchronize(): void {
    this.check();
    native.streamSynchronize(this.handle);
  }

  /** Resolves when all work queued so far has finished (waits on a worker thread). */
  synchronized(): Promise<void> {
    this.check();
    return native.streamSynchronizeAsync(this.handle);
  }

  /** Whether the stream is being captured into a graph. */
  get capturing(): boolean {
    this.check();
    return native.streamIsCapturing(this.handle);
  }

  /** Makes later work on this stream wait for `event`. */
  wait(event: Event): void {
    this.check();
    native.streamWaitEvent(this.handle, event.handle);
  }

  dispose(): void {
    if (this.disposed || !this.owned) return;
    this.disposed = true;
    native.streamDestroy(this.handle, this.deviceIndex);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  private check(): void {
    if (this.disposed) throw new NsaError('E_DISPOSED', 'stream: used after dispose()');
  }
}

/** The stream an op runs on: the given one, else 0 (the native side picks the default stream). */
export function streamHandle(stream: Stream | undefined, deviceIdx: number, arg = 'stream'): number {
  if (stream === undefined || deviceIdx < 0) return 0;
  if (stream.deviceIndex !== deviceIdx) fail('E_DEVICE', arg, stream.device, deviceName(deviceIdx));
  return stream.handle;
}

/** A GPU event for ordering and timing. */
export class Event {
  readonly handle: number;
  private disposed = false;
  constructor(device: Device | string = 'cuda:0') {
    const idx = deviceIndex(device);
    if (idx < 0) fail('E_DEVICE', 'device', device, 'a GPU device for an event');
    this.handle = native.eventCreate(idx);
  }
  record(stream: Stream): this {
    this.check();
    native.eventRecord(this.handle, stream.handle);
    return this;
  }
  synchronize(): void {
    this.check();
    native.eventSynchronize(this.handle);
  }
  /** Milliseconds from this event to `end` (both recorded and complete). */
  elapsedMs(end: Event): number {
    this.check();
    return native.eventElapsed(this.handle, end.handle);
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    native.eventDestroy(this.handle);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  private check(): void {
    if (this.disposed) throw new NsaError('E_DISPOSED', 'event: used after dispose()');
  }
}

/** An instantiated CUDA graph; `replay()` launches it on a stream. */
export class Graph {
  private exec: number;
  readonly stream: Stream;
  constructor(exec: number, stream: Stream) {
    this.exec = exec;
    this.stream = stream;
  }
  replay(stream: Stream = this.stream): void {
    if (this.exec === 0) throw new NsaError('E_DISPOSED', 'graph: used after dispose()');
    native.graphLaunch(this.exec, stream.handle);
  }
  dispose(): void {
    if (this.exec === 0) return;
    native.graphDestroy(this.exec);
    this.exec = 0;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Captures the GPU work `fn` issues on `stream` into a graph (thread-local capture mode). Ops inside
 * must be given `{ stream }` (or run on the default stream passed here). Host synchronization inside
 * `fn` is an error. The capture is always ended, also when `fn` throws.
 */
export function captureGraph(stream: Stream, fn: () => void): Graph {
  native.graphBeginCapture(stream.handle);
  try {
    fn();
  } catch (err) {
    // End the (possibly invalidated) capture so the stream is usable again; report fn's error.
    try {
      native.graphDestroy(native.graphEndCapture(stream.handle));
    } catch {
      /* the capture was already invalid */
    }
    throw err;
  }
  return new Graph(native.graphEndCapture(stream.handle), stream);
}
