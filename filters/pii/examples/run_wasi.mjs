// Runs a wasm32-wasip1 command module in node's WASI (V8): node run_wasi.mjs module.wasm
// Host functions of other modules (proxy-wasm's `env`, never called by a command) are stubs.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import { argv } from "node:process";

const wasi = new WASI({ version: "preview1", args: [argv[2]], env: {} });
const module = await WebAssembly.compile(await readFile(argv[2]));
const imports = wasi.getImportObject();
for (const i of WebAssembly.Module.imports(module)) {
  if (i.module !== "wasi_snapshot_preview1" && i.kind === "function") {
    imports[i.module] ??= {};
    imports[i.module][i.name] = () => 0;
  }
}
const instance = await WebAssembly.instantiate(module, imports);
// The module also exports `_initialize` (linked-in reactor code); run it as a command.
const { memory, _start } = instance.exports;
wasi.start({ exports: { memory, _start } });
