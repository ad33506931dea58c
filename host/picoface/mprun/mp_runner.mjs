// Run a Python script under real MicroPython (the WebAssembly port) from Node.
//
//   node host/picoface/mprun/mp_runner.mjs [--mount HOST_PATH:WASM_PATH]... [--heap BYTES] SCRIPT.py [ARGS...]
//
// device/pfcore is always copied to /lib/pfcore of the wasm filesystem (sys.path has /lib).
// Each --mount copies a host file or folder (recursively, .py and data files) to WASM_PATH,
// e.g. --mount device/hal.py:/lib/hal.py or --mount host/picoface/sim/fakes/maixpy:/lib.
// SCRIPT runs as __main__ with the global ARGV = [SCRIPT, ARGS...] (also in sys.argv when the
// port has one; this wasm build has none, so read `globals().get("ARGV") or sys.argv`); its stdout/stderr are passed
// through line by line. Exit status: 0 on success, 1 on an uncaught exception (the traceback
// goes to stderr), N for sys.exit(N), 2 for bad usage.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// The repository root: this file is host/picoface/mprun/mp_runner.mjs.
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");

function usage(msg) {
  process.stderr.write("mp_runner: " + msg + "\n");
  process.stderr.write("usage: node host/picoface/mprun/mp_runner.mjs [--mount SRC:DEST]... [--heap BYTES] SCRIPT.py [ARGS...]\n");
  process.exit(2);
}

const argv = process.argv.slice(2);
const mounts = [[path.join(root, "device", "pfcore"), "/lib/pfcore"]];
let heap = 4 * 1024 * 1024;
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  if (opt === "--mount") {
    const spec = argv.shift() || "";
    const i = spec.lastIndexOf(":");
    if (i <= 0) usage("--mount needs HOST_PATH:WASM_PATH, got " + JSON.stringify(spec));
    mounts.push([path.resolve(spec.slice(0, i)), spec.slice(i + 1)]);
  } else if (opt === "--heap") {
    heap = parseInt(argv.shift(), 10);
    if (!(heap > 0)) usage("--heap needs a positive number of bytes");
  } else {
    usage("unknown option " + opt);
  }
}
if (!argv.length) usage("no script given");
const script = path.resolve(argv.shift());
if (!fs.existsSync(script)) usage("script not found: " + script);

const pkg = path.join(root, "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs");
if (!fs.existsSync(pkg)) usage("MicroPython wasm package missing: " + pkg + " (npm install it)");
const { loadMicroPython } = await import(pathToFileURL(pkg).href);

const mp = await loadMicroPython({
  heapsize: heap,
  linebuffer: true,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function mkdirs(p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

function copy(src, dest) {
  const st = fs.statSync(src);
  if (st.isDirectory()) {
    mkdirs(dest);
    for (const name of fs.readdirSync(src)) {
      if (name === "__pycache__" || name.startsWith(".")) continue;
      copy(path.join(src, name), dest + "/" + name);
    }
  } else {
    mkdirs(path.posix.dirname(dest));
    mp.FS.writeFile(dest, fs.readFileSync(src));
  }
}

for (const [src, dest] of mounts) {
  if (!fs.existsSync(src)) usage("mount source not found: " + src);
  copy(src, dest);
}
copy(script, "/main/" + path.basename(script));

const wasmScript = "/main/" + path.basename(script);
const args = [wasmScript, ...argv];
const boot = [
  "import sys",
  "try:\n    sys.argv[:] = " + JSON.stringify(args) + "\nexcept Exception:\n    pass",
  "sys.path.insert(0, '/main')",
  "_f = open(" + JSON.stringify(wasmScript) + ")",
  "_src = _f.read()",
  "_f.close()",
  "exec(compile(_src, " + JSON.stringify(wasmScript) + ", 'exec'), {'__name__': '__main__', '__file__': " + JSON.stringify(wasmScript) + ", 'ARGV': " + JSON.stringify(args) + "})",
].join("\n");

let status = 0;
try {
  mp.runPython(boot);
} catch (e) {
  const msg = String((e && e.message) || e);
  const m = /SystemExit: ?(\d*)/.exec(msg);
  if (m && e.type === "SystemExit") {
    status = m[1] ? parseInt(m[1], 10) : 0;
  } else if (m && /Traceback[\s\S]*SystemExit/.test(msg) && !/Error/.test(msg.split("\n").pop())) {
    status = m[1] ? parseInt(m[1], 10) : 0;
  } else {
    process.stderr.write(msg.endsWith("\n") ? msg : msg + "\n");
    status = 1;
  }
}
process.exitCode = status;
