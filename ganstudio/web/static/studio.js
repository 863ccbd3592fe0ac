// The studio's page draws while a slider moves: loaded into `ganstudio serve`'s page (ganstudio.studio.browser).
//
// The current image carries its recipe (PNG text "ganstudio": model sha256, seed, ψ, edits, direction amounts),
// so this script knows the state on screen from the image itself and loads that model's record and graph from
// /web/model/<sha256>/. While a pointer drags a dimension, direction, class or ψ slider, each step is drawn here
// and hidden from Gradio; where the drag ends, one input event goes to Gradio, so the server renders and records
// the final state once. Keyboard steps are drawn here and go to the server as before. A browser that cannot run
// the model keeps the server path, and the page says so once.

import { Explorer, canRun, toQuery } from "./explore.js";

const explorers = new Map(); // sha256 -> Promise<Explorer>
let shown = null; // {ex, state, pad}: the model and state of the image on screen, and the black frame around it
let dragging = null; // the range input a pointer is dragging
let pending = null; // the latest state asked for while one was being drawn
let busy = false;
let seenSrc = null; // the last image the server sent
let asked = 0; // window.ganstudio.set's requests, so each knows its own answer
const canvas = document.createElement("canvas");

function currentImg() {
  return document.querySelector("#current img");
}

function say(text) {
  if (document.getElementById("browser-note")) return;
  const p = Object.assign(document.createElement("p"), { id: "browser-note", textContent: text });
  p.style.cssText = "font-size: 12px; opacity: .75; margin: 4px 0;";
  document.getElementById("current")?.after(p);
}

/** The recipe a ganstudio PNG carries (tEXt or iTXt "ganstudio"), or null. */
function recipeOf(buf) {
  const bytes = new Uint8Array(buf);
  const view = new DataView(buf);
  for (let at = 8; at + 12 <= bytes.length;) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + len);
    if (type === "tEXt" || type === "iTXt") {
      const nul = data.indexOf(0);
      if (new TextDecoder("latin1").decode(data.subarray(0, nul)) === "ganstudio") {
        let text = data.subarray(nul + 1);
        if (type === "iTXt") { // flag, method, language\0, translated keyword\0
          const lang = text.indexOf(0, 2);
          text = text.subarray(text.indexOf(0, lang + 1) + 1);
        }
        return JSON.parse(new TextDecoder(type === "tEXt" ? "latin1" : "utf-8").decode(text));
      }
    }
    at += 12 + len;
  }
  return null;
}

function explorerFor(sha) {
  if (!explorers.has(sha)) explorers.set(sha, Explorer.load(`/web/model/${sha}/model.json`));
  return explorers.get(sha);
}

/** The state a recipe names, in the page's terms (null for an image that is no single vector). */
function stateOf(ex, recipe) {
  if (recipe.vector) {
    const v = recipe.vector;
    const directions = {};
    for (const [m, amounts] of Object.entries(v.directions || {})) {
      const names = ex.record.directions[m]?.names || [];
      amounts.forEach((a, j) => { if (a && j < names.length) directions[`${m}:${names[j]}`] = a; });
    }
    return { seed: v.seed, psi: v.psi, dims: { ...v.edits }, directions };
  }
  return recipe.op === "sample" && recipe.n === 1 ? { seed: recipe.seed, psi: recipe.psi, dims: {}, directions: {} } : null;
}

async function onImage(src) {
  try {
    const recipe = recipeOf(await (await fetch(src)).arrayBuffer());
    if (!recipe || !recipe.model_sha256) return;
    const ex = await explorerFor(recipe.model_sha256);
    const state = stateOf(ex, recipe);
    const el = currentImg();
    if (el?.src !== src) return; // another image arrived meanwhile
    await el.decode().catch(() => undefined);
    const pad = Math.max(0, (el.naturalWidth - ex.record.image_size) / 2); // drawn as the server lays it out
    const before = document.querySelector("#before input")?.checked; // the unedited image, not the session's
    shown = state && !before ? { ex, state, pad } : null;
  } catch (e) {
    shown = null;
    say(`This browser cannot run this model (${String(e.message || e).slice(0, 120)}): images are drawn by the server.`);
  }
}

function conditional() {
  const box = [...document.querySelectorAll("label")].find((l) => l.textContent.includes("Keep the other classes"));
  return Boolean(box?.querySelector("input")?.checked);
}

/** The state after this slider moved to `value`, or null for a slider this script does not draw. */
function moved(input, value) {
  const label = (input.getAttribute("aria-label") || "").replace(/^range slider for /, "");
  const s = { ...shown.state, dims: { ...shown.state.dims }, directions: { ...shown.state.directions } };
  let m;
  if (label === "Truncation ψ") {
    s.psi = value;
  } else if ((m = /^dim (\d+) ·/.exec(label))) {
    const lim = shown.ex.record.limits.latent; // the session clamps to it
    // the slider shows the final value, directions included: the edit under it is that less their offset
    s.dims[m[1]] = Math.fround(Math.min(Math.max(value, lim.lo), lim.hi) - shown.ex.offset(s.directions, Number(m[1])));
  } else if ((m = /^(SeFa|PC) (\d+) ·/.exec(label))) {
    s.directions[`${m[1] === "SeFa" ? "sefa" : "ganspace"}:${m[2]}`] = value;
  } else if ((m = /^→ (.+)$/.exec(label))) {
    const [to, from] = conditional() ? ["class_cond", "class"] : ["class", "class_cond"];
    for (const name of shown.ex.record.directions[to]?.names || []) { // the amounts move to the kind now ticked
      const sum = (s.directions[`${to}:${name}`] || 0) + (s.directions[`${from}:${name}`] || 0);
      delete s.directions[`${from}:${name}`];
      if (sum) s.directions[`${to}:${name}`] = sum;
    }
    s.directions[`${to}:${m[1]}`] = value;
  } else {
    return null;
  }
  return s;
}

async function pump() {
  busy = true;
  while (pending) {
    const { ex, state, pad } = pending;
    pending = null;
    try {
      const img = await ex.render(state);
      canvas.width = img.width + 2 * pad;
      canvas.height = img.height + 2 * pad;
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.putImageData(img, pad, pad);
      const el = currentImg();
      if (el) el.src = canvas.toDataURL();
    } catch (e) {
      say(`The page could not draw this (${e.message}): images are drawn by the server.`);
    }
  }
  busy = false;
}

function draw(state) {
  pending = { ex: shown.ex, state, pad: shown.pad };
  if (!busy) pump();
}

/** What Gradio would show for a value it has not heard yet: the slider's number box and its filled track. */
function follow(range) {
  const box = range.closest(".block")?.querySelector("input[type=number]");
  if (box) box.value = range.value;
  const [lo, hi] = [Number(range.min), Number(range.max)];
  range.style.setProperty("--range_progress", `${((Number(range.value) - lo) / (hi - lo)) * 100}%`);
}

function install() {
  window.addEventListener("pointerdown", (e) => {
    if (shown && e.target instanceof HTMLInputElement && e.target.type === "range" && moved(e.target, Number(e.target.value))) dragging = e.target;
  }, true);
  window.addEventListener("input", (e) => {
    const t = e.target;
    if (e.ganstudioEnd || !shown || !(t instanceof HTMLInputElement) || t.type !== "range") return;
    const state = moved(t, Number(t.value));
    if (!state) return;
    shown.state = state;
    draw(state);
    if (dragging === t) { // the server hears where the drag ends, not each step
      e.stopImmediatePropagation();
      follow(t);
    }
  }, true);
  window.addEventListener("pointerup", () => {
    if (!dragging) return;
    const t = dragging;
    dragging = null;
    const end = new Event("input", { bubbles: true });
    end.ganstudioEnd = true;
    t.dispatchEvent(end); // Gradio takes the final value now, before its own release event
  }, true);
  new MutationObserver(() => {
    const src = currentImg()?.src;
    if (src && !src.startsWith("data:") && src !== seenSrc) {
      seenSrc = src;
      onImage(src);
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
}

window.ganstudio = {
  /** Where drags are drawn: "browser", or "server" where this browser cannot run the model. */
  mode: canRun() ? "browser" : "server",
  render: (state) => (shown ? shown.ex.render(state) : Promise.reject(new Error("no model on screen yet"))),
  state: () => (shown ? structuredClone(shown.state) : null),
  /** Makes `state` current in the server's session (checked here first: a bad one changes nothing), then
   *  resolves with its image as render() draws it. */
  set(state) {
    if (!shown) return Promise.reject(new Error("no model on screen yet"));
    const { ex } = shown;
    let s;
    try {
      s = ex.check(state);
    } catch (e) {
      return Promise.reject(e);
    }
    const box = document.querySelector("#web-set textarea, #web-set input");
    const nonce = String(++asked);
    box.value = `${nonce}?model=${encodeURIComponent(ex.record.key)}&${toQuery(ex, s, true)}`;
    box.dispatchEvent(new Event("input", { bubbles: true })); // Gradio's copy of the value
    box.dispatchEvent(new KeyboardEvent("keypress", { key: "Enter", bubbles: true })); // its submit event
    return new Promise((resolve, reject) => {
      const answered = () => {
        const [n, said] = [box.value.split(" ", 1)[0], box.value.slice(box.value.indexOf(" ") + 1)];
        if (n !== nonce || !box.value.includes(" ")) return requestAnimationFrame(answered);
        if (said !== "ok") return reject(new RangeError(said));
        if (shown?.ex === ex) shown.state = s;
        return resolve(ex.render(s));
      };
      answered();
    });
  },
};

if (canRun()) {
  install();
} else {
  const wait = setInterval(() => {
    if (!document.getElementById("current")) return;
    clearInterval(wait);
    say("This browser cannot run the model (it needs WebAssembly with SIMD): images are drawn by the server.");
  }, 200);
}
