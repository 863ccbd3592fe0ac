// The exported site's page: controls around explore.js, the whole state in the URL (the permalink), and
// window.ganstudio = {render, state, set} for tests and for pages that embed the explorer.

import { Explorer, Painter, canRun, fromQuery, toQuery } from "./explore.js";

const $ = (id) => document.getElementById(id);
const STRIP = 8; // frames in the interpolation strip
const SWEEP = { lo: -3, hi: 3, steps: 9 }; // the sweep strip, as the CLI's default range

function say(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

/** numpy.linspace(lo, hi, steps, dtype=float32), as latent.sweep_values makes the values */
function linspace(lo, hi, steps) {
  return Array.from({ length: steps }, (_, i) => Math.fround(i === steps - 1 ? hi : lo + (i * (hi - lo)) / (steps - 1)));
}

function slider(parent, label, bound, step, onInput) {
  const name = document.createElement("label");
  name.textContent = label;
  const input = Object.assign(document.createElement("input"), { type: "range", min: bound.lo, max: bound.hi, step });
  const out = document.createElement("output");
  input.addEventListener("input", () => {
    out.textContent = Number(input.value).toFixed(2);
    onInput(Number(input.value));
  });
  parent.append(name, input, out);
  return { input, out, set(v) { input.value = v; out.textContent = Number(v).toFixed(2); } };
}

async function main() {
  if (!canRun()) {
    say("This browser cannot run the model here (it needs WebAssembly with SIMD): try a current Chrome, Firefox or Safari.");
    return;
  }
  let ex;
  try {
    ex = await Explorer.load("model/model.json");
  } catch (e) {
    say(`The model could not be loaded: ${e.message}`);
    return;
  }
  const rec = ex.record;
  const painter = new Painter(ex, $("current"));
  document.title = `${rec.name} · ganstudio explorer`;
  $("title").textContent = `${rec.name} · ganstudio explorer`;
  $("card").textContent = `${rec.dataset} · ${rec.image_size}×${rec.image_size}, ${rec.channels === 1 ? "grey" : "colour"} · ${rec.nz} latent dimensions · weights sha256 ${rec.sha256.slice(0, 12)}…`;
  fetch("model/card.json").then((r) => r.json()).then((card) => {
    const t = card.training || {};
    $("card").textContent += ` · ${card.architecture.name}, ${t.steps ?? "?"} training steps`;
  }).catch(() => undefined);
  const lim = rec.limits;
  $("seed").max = lim.seed.hi;
  let current = ex.check({});

  // -- controls ---------------------------------------------------------------------------------------------
  const dimSliders = {};
  for (const d of rec.effects.order) {
    const group = d < rec.effects.classes ? " · class code" : "";  // a class-coded model's class dimensions come first
    dimSliders[d] = slider($("dims"), `dim ${d}${group} · ${rec.effects.scores[d].toFixed(3)}`, lim.latent, 0.01, (v) => {
      apply({ ...current, dims: { ...current.dims, [d]: v } }).catch(show);
    });
  }
  const dirSliders = {};
  for (const m of ex.methods) {
    const h = document.createElement("h2");
    h.textContent = rec.directions[m].title;
    const box = Object.assign(document.createElement("div"), { className: "sliders" });
    $("directions").append(h, box);
    rec.directions[m].names.forEach((n) => {
      const key = `${m}:${n}`;
      const label = m.startsWith("class") ? `→ ${n}` : `${rec.directions[m].title} ${n}`;
      dirSliders[key] = slider(box, label, lim.direction, 0.1, (v) => {
        apply({ ...current, directions: { ...current.directions, [key]: v } }).catch(show);
      });
    });
  }
  const what = $("sweep-what");
  for (const d of rec.effects.order.slice(rec.effects.classes, rec.effects.classes + 16)) what.add(new Option(`dim ${d}`, `dim:${d}`));
  for (const key of Object.keys(dirSliders)) what.add(new Option(key, `dir:${key}`));

  function show(e) {
    say(e.message);
  }

  function sync() {
    const z0 = ex.vector({ seed: current.seed, psi: current.psi });
    for (const [d, s] of Object.entries(dimSliders)) {
      const v = d in current.dims ? current.dims[d] : z0[d];
      s.set(Math.min(Math.max(v, lim.latent.lo), lim.latent.hi));
    }
    for (const [key, s] of Object.entries(dirSliders)) s.set(current.directions[key] || 0);
    $("seed").value = current.seed;
    $("psi").value = current.psi;
    $("psi-out").textContent = current.psi;
    const query = toQuery(ex, current);
    $("permalink").href = `?${query}`;
    history.replaceState(null, "", `?${query}`);
  }

  /** Make `state` the current one (checked first: a bad one changes nothing) and draw it. */
  function apply(state) {
    let s;
    try {
      s = ex.check(state);
    } catch (e) {
      return Promise.reject(e);
    }
    say("");
    current = s;
    sync();
    return painter.paint(s);
  }

  $("seed").addEventListener("change", () => apply({ ...current, seed: $("seed").value }).catch(show));
  $("prev").addEventListener("click", () => apply({ ...current, seed: Math.max(lim.seed.lo, current.seed - 1) }).catch(show));
  $("next").addEventListener("click", () => apply({ ...current, seed: Math.min(lim.seed.hi, current.seed + 1) }).catch(show));
  $("random").addEventListener("click", () => apply({ ...current, seed: Math.floor(Math.random() * 2 ** 31) }).catch(show));
  $("reset").addEventListener("click", () => apply({ seed: current.seed, psi: current.psi }).catch(show));
  $("psi").addEventListener("input", () => apply({ ...current, psi: $("psi").value }).catch(show));

  async function strip(box, states, captions) {
    box.replaceChildren();
    for (let i = 0; i < states.length; i++) {
      const c = Object.assign(document.createElement("canvas"), { width: rec.image_size, height: rec.image_size, title: captions[i] });
      c.getContext("2d").putImageData(await ex.render(states[i]), 0, 0);
      c.addEventListener("click", () => apply(states[i]).catch(show));
      box.append(c);
    }
  }

  $("interpolate").addEventListener("click", () => {
    let b;
    try {
      b = ex.vector({ seed: $("seed-to").value, psi: current.psi });
    } catch (e) {
      return show(e);
    }
    const a = ex.vector(current);
    const f = Math.fround;
    const ts = linspace(0, 1, STRIP);
    const states = ts.map((t) => ({ seed: current.seed, psi: current.psi, directions: {},
      dims: Object.fromEntries(Array.from(a, (x, i) => [i, f(f(f(1 - t) * x) + f(t * b[i]))])) }));
    strip($("interp-strip"), states, ts.map((t) => `t ${t.toFixed(2)}`)).catch(show);
  });

  $("sweep").addEventListener("click", () => {
    const [kind, key] = [what.value.slice(0, 3), what.value.slice(4)];
    const values = linspace(SWEEP.lo, SWEEP.hi, SWEEP.steps);
    const states = values.map((v) => kind === "dim"
      ? { ...current, dims: { ...current.dims, [key]: v } }
      : { ...current, directions: { ...current.directions, [key]: v } });
    strip($("sweep-strip"), states, values.map((v) => `${key} ${v.toFixed(2)}`)).catch(show);
  });

  window.ganstudio = {
    render: (state) => ex.render(state),
    state: () => structuredClone(current),
    set: (state) => apply(state),
  };
  try {
    await apply(fromQuery(ex, location.search));
  } catch (e) {
    show(e);
    await apply({});
  }
  document.body.dataset.ready = "1";
}

main();
