/** nsa-kernels: DeepSeek-V3.2 / GLM-5 native sparse attention serving kernels for Node.js. */
export { NsaError, type NsaErrorCode } from './errors';
export * from './dtype';
export { backend, captureGraph, defaultDevice, devices, Event, Graph, gpuAvailable, Stream, type Backend, type BackendInfo, type Device, type DeviceInfo } from './runtime';
export { Tensor, type TensorOptions } from './tensor';
export { convert } from './convert';
export * from './metadata-copy';
export * from './indexer-cache';
export { INDEX_TOPK, topk, trivialTopk, type TopKOptions } from './topk';
export * from './mqa-logits';
export * from './dispatcher';
export * from './indexer';
export * from './paged-mqa-topk';
