// Starts a TypeScript module in a worker thread: jest's transform does not reach worker threads, so
// .ts files are compiled on require with the project's own TypeScript (workerData.script names the
// module; the rest of workerData is the module's).
const fs = require('node:fs');
const { workerData } = require('node:worker_threads');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(outputText, filename);
};
require(workerData.script);
