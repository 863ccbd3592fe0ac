// The generator in the page: a model's generator.onnx run by onnxruntime-web (WebAssembly, one thread), z made
// from the seed here (rng.js), and the same edits ganstudio.explore.operations.Vector.edited applies:
//   z = truncate(z(seed), psi); z[d] = dims[d] for each edited dimension; z += sum(amount * direction).
// A drag then redraws without asking any server, and one seed shows the same image as `ganstudio sample`.
//
// A state is {seed, psi, dims: {index: value}, directions: {"method:name": amount}} (see model.json's
// "directions" for the names); it travels in the URL as the studio's link does it:
//   ?seed=3&psi=0.7&dims=12:1.5,3:-2&sefa=0,2.5&class=0,0,1

import * as ort from "./vendor/ort/ort.wasm.min.mjs";
import { standardNormal } from "./rng.js";

ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed: any static server hosts the page
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL("./vendor/ort/", import.meta.url).href;
ort.env.logLevel = "error";

/** True where this browser can run the vendored runtime (WebAssembly with SIMD). */
export function canRun() {
  if (typeof WebAssembly !== "object") return false;
  // the smallest module using a v128 instruction: validates only where SIMD is there
  const simd = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0,
    65, 0, 253, 15, 253, 98, 11]);
  return WebAssembly.validate(simd);
}

function checked(bound, name, value) {
  const x = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  const kind = bound.integer ? "a whole number" : "a number";
  if (typeof x !== "number" || !Number.isFinite(x) || (bound.integer && !Number.isInteger(x))) {
    throw new RangeError(`${name} ${String(value).slice(0, 40)} must be ${kind} in ${bound.text}`);
  }
  if ((bound.open_lo ? x <= bound.lo : x < bound.lo) || x > bound.hi) {
    throw new RangeError(`${name} ${x} is out of range: use ${bound.text}`);
  }
  return x;
}

/** round half to even, as numpy's rint */
function rint(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export class Explorer {
  constructor(record, session) {
    this.record = record;
    this.session = session;
    this.nz = record.nz;
    this.methods = Object.keys(record.directions);
    this.rows = {}; // method -> Float32Array rows
    for (const m of this.methods) this.rows[m] = record.directions[m].vectors.map((r) => Float32Array.from(r));
    this.queue = Promise.resolve(); // runs one at a time: the WASM session is single-threaded
  }

  /** Load model.json (and the graph it names, relative to it). Rejects where the runtime cannot run it. */
  static async load(recordUrl) {
    const url = new URL(recordUrl, document.baseURI);
    const answer = await fetch(url);
    if (!answer.ok) throw new Error(`${url}: ${answer.status} ${answer.statusText}`);
    const record = await answer.json();
    if (record.format !== "ganstudio-web-model") throw new Error(`${url} is not a ganstudio model record`);
    const session = await ort.InferenceSession.create(new URL(record.graph, url).href, {
      executionProviders: ["wasm"], graphOptimizationLevel: "all",
    });
    return new Explorer(record, session);
  }

  /** The direction named "method:name" as [method, row], or a RangeError listing what there is. */
  direction(key) {
    const i = String(key).indexOf(":");
    const m = key.slice(0, i), name = key.slice(i + 1);
    const j = i > 0 && this.record.directions[m] ? this.record.directions[m].names.indexOf(name) : -1;
    if (j < 0) {
      const all = this.methods.flatMap((mm) => this.record.directions[mm].names.map((n) => `${mm}:${n}`));
      throw new RangeError(`no direction ${String(key).slice(0, 40)} in this model: use one of ${all.join(", ")}`);
    }
    return [m, j];
  }

  /** A state with every value checked and in canonical form; a RangeError (one line) for a bad one. */
  check(state) {
    const lim = this.record.limits;
    const s = state || {};
    const out = { seed: checked(lim.seed, "seed", s.seed ?? 0), psi: checked(lim.psi, "psi", s.psi ?? 1), dims: {}, directions: {} };
    const dimBound = { lo: 0, hi: this.nz - 1, integer: true, open_lo: false, text: `0..${this.nz - 1}` };
    for (const [d, v] of Object.entries(s.dims || {})) {
      out.dims[checked(dimBound, "dimension", d)] = checked(lim.value, `dimension ${d}'s value`, v);
    }
    for (const [key, a] of Object.entries(s.directions || {})) {
      this.direction(key);
      const amount = checked(lim.direction, `direction ${key}'s amount`, a);
      if (amount !== 0) out.directions[key] = amount;
    }
    return out;
  }

  /** The state's latent vector, float32 as Python makes it. */
  vector(state) {
    const s = this.check(state);
    const f = Math.fround;
    const z = standardNormal(s.seed, this.nz);
    const psi = f(s.psi);
    for (let i = 0; i < z.length; i++) z[i] = f(z[i] * psi);
    for (const [d, v] of Object.entries(s.dims)) z[Number(d)] = v;
    for (const m of this.methods) { // model.json's order, the order Python adds them in
      const step = this.along(m, s.directions);
      if (step) for (let i = 0; i < z.length; i++) z[i] = f(z[i] + step[i]);
    }
    return z;
  }

  /** What the amounts of `method` in `directions` add to z (float32 as numpy's a @ rows), or null for none. */
  along(method, directions) {
    const f = Math.fround;
    const rows = this.rows[method];
    const amounts = rows.map((_, j) => directions[`${method}:${this.record.directions[method].names[j]}`] || 0);
    if (!amounts.some((a) => a !== 0)) return null;
    const out = new Float32Array(this.nz);
    for (let i = 0; i < this.nz; i++) {
      let sum = 0;
      for (let j = 0; j < rows.length; j++) sum = f(sum + f(f(amounts[j]) * rows[j][i]));
      out[i] = sum;
    }
    return out;
  }

  /** What all the directions of a (checked) state add to dimension d: a dimension slider shows the final
   *  value, so the edit under it is that value less this (as ganstudio.studio.recipes.with_value). */
  offset(directions, d) {
    let sum = 0;
    for (const m of this.methods) sum = Math.fround(sum + (this.along(m, directions)?.[d] || 0));
    return sum;
  }

  /** Generator output (C, H, W) floats -> RGBA ImageData, rounded and clipped as images.to_uint8 does it. */
  pixels(out) {
    const f = Math.fround;
    const { channels: c, image_size: n } = this.record;
    const [lo, hi] = this.record.output_range;
    const scale = f(255 / (hi - lo)), flo = f(lo);
    const img = new ImageData(n, n);
    const px = img.data;
    for (let p = 0; p < n * n; p++) {
      for (let k = 0; k < 4; k++) {
        const ch = c === 1 ? 0 : k;
        if (k === 3 && c < 4) { px[4 * p + 3] = 255; continue; }
        const v = rint(f(f(out[ch * n * n + p] - flo) * scale));
        px[4 * p + k] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
    return img;
  }

  /** The state's image at the model's native size (ImageData), same pixels as `ganstudio sample`. */
  render(state) {
    let z;
    try {
      z = this.vector(state);
    } catch (e) {
      return Promise.reject(e);
    }
    const run = this.queue.then(async () => {
      const feeds = { [this.session.inputNames[0]]: new ort.Tensor("float32", z, [1, this.nz]) };
      const result = await this.session.run(feeds);
      return this.pixels(result[this.session.outputNames[0]].data);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Draws states as fast as the runtime allows: a new request while one renders replaces any waiting one. */
export class Painter {
  constructor(explorer, canvas) {
    this.explorer = explorer;
    this.canvas = canvas;
    canvas.width = canvas.height = explorer.record.image_size;
    this.busy = false;
    this.next = null;
  }

  /** Resolves with the ImageData drawn for this state (or for a later one that replaced it). */
  paint(state) {
    return new Promise((resolve, reject) => {
      const waiting = this.next ? this.next.resolvers : [];
      this.next = { state, resolvers: [...waiting, { resolve, reject }] };
      this.pump();
    });
  }

  async pump() {
    if (this.busy || !this.next) return;
    const { state, resolvers } = this.next;
    this.next = null;
    this.busy = true;
    try {
      const img = await this.explorer.render(state);
      this.canvas.getContext("2d").putImageData(img, 0, 0);
      resolvers.forEach((r) => r.resolve(img));
    } catch (e) {
      resolvers.forEach((r) => r.reject(e));
    } finally {
      this.busy = false;
      this.pump();
    }
  }
}

// -- the link: the studio's query format, so a link from one opens in the other -----------------------------

const short = (x) => String(Math.round(x * 1e4) / 1e4);

/** The query string (without "?") that restores `state` (already checked): values to 4 decimals for a link a
 *  person reads, or `exact` (shortest round-trip form) where a program hands the state on. */
export function toQuery(explorer, state, exact = false) {
  const num = exact ? String : short;
  const q = new URLSearchParams();
  q.set("seed", String(state.seed));
  q.set("psi", num(state.psi));
  const dims = Object.entries(state.dims).sort((a, b) => a[0] - b[0]);
  if (dims.length) q.set("dims", dims.map(([d, v]) => `${d}:${num(v)}`).join(","));
  for (const m of explorer.methods) {
    const a = explorer.record.directions[m].names.map((n) => state.directions[`${m}:${n}`] || 0);
    while (a.length && !a[a.length - 1]) a.pop();
    if (a.length) q.set(m, a.map(num).join(","));
  }
  return q.toString().replace(/%3A/g, ":").replace(/%2C/g, ",");
}

/** The state a query string holds (unchecked: pass it to explorer.check). */
export function fromQuery(explorer, query) {
  const q = new URLSearchParams(query);
  const state = { seed: q.get("seed") ?? 0, psi: q.get("psi") ?? 1, dims: {}, directions: {} };
  for (const item of (q.get("dims") || "").split(",").filter(Boolean)) {
    const [d, v] = item.split(":");
    state.dims[d] = v;
  }
  for (const m of explorer.methods) {
    const names = explorer.record.directions[m].names;
    (q.get(m) || "").split(",").filter(Boolean).forEach((a, j) => {
      if (j < names.length) state.directions[`${m}:${names[j]}`] = a;
    });
  }
  return state;
}
