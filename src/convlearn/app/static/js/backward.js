// The backward pass: gradients at every layer for a chosen class, the saliency, the walk-through.
import { guarded, postJSON } from "./api.js";
import { bytes, legend, paint } from "./colors.js";
import { el, matrixTable, sig } from "./format.js";
import { plain, t } from "./i18n.js";
import { LayerGraph } from "./layers.js";
import { state } from "./state.js";

let graph;
let target = null;       // chosen class; null: the predicted one
let visible = false;
let lastKey = "";

const $ = (id) => document.querySelector(`[data-testid=${id}]`);

export function initBackward() {
  graph = new LayerGraph($("gradient-graph"), "backward", null);
}

export function setBackwardModel(desc) {
  graph.setModel(desc);
  target = null;
  lastKey = "";
  classes(desc);
}

function classes(desc) {
  const box = $("backward-classes");
  box.replaceChildren();
  if (!desc) return;
  box.append(el("span", { class: "hint", text: t("app_back_class") }));
  for (let k = 0; k < desc.classes; k++) {
    box.append(el("button", { type: "button", "data-testid": `backward-class-${k}`, "data-class": k, text: String(k),
      onclick: () => { target = k; update(true); } }));
  }
}

export function setBackwardVisible(v) { visible = v; if (v) update(false); }

/** Recompute for the current input (when the tab is shown); `force` even if nothing changed. */
export async function update(force) {
  const p = state.prediction;
  if (!visible || !state.model) return;
  if (!p) { $("backward-loss").textContent = t("app_draw_prompt"); return; }
  const k = target === null ? p.predicted : target;
  const key = `${p.input}|${k}|${document.documentElement.lang}`;
  if (!force && key === lastKey) return;
  lastKey = key;
  for (const b of $("backward-classes").querySelectorAll("button")) b.setAttribute("aria-pressed", String(Number(b.dataset.class) === k));
  const lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
  const data = await guarded(() => postJSON(`/api/backward?lang=${lang}`, { input: p.input, target: k, model: p.model }));
  if (!data) return;
  render(data);
}

function render(d) {
  const loss = $("backward-loss");
  loss.textContent = t("app_back_loss", { name: d.target, p: sig(d.probabilities[d.target]), loss: sig(d.loss) });
  loss.dataset.loss = d.loss;
  loss.dataset.target = d.target;
  const sal = $("saliency");
  sal.replaceChildren();
  const [h, w, c] = d.saliency.shape;
  const canvas = el("canvas", { "data-testid": "saliency-canvas" });
  paint(canvas, bytes(d.saliency.data), 0, h, w, d.saliency.scale);
  sal.append(canvas, el("div", {}, legend(d.saliency, sig, t("app_legend_gradient")), el("p", { class: "hint", text: t("app_back_saliency_hint", { channels: c }) })));
  graph.setData(d.gradients, null);
  const walk = $("backward-walkthrough");
  walk.replaceChildren(el("h2", { text: t("app_back_walk_title") }));
  for (const section of d.sections) {
    const box = el("section", { "data-testid": "walkthrough-section" });
    if (section.title) box.append(el("h3", { text: plain(section.title) }));
    for (const item of section.items) {
      if (item.type === "text") box.append(el("p", { class: "formula", text: plain(item.text) }));
      else {
        const mats = el("div", { class: "mats" });
        item.grids.forEach((g, i) => {
          if (i) mats.append(el("span", { class: "op", text: "→" }));
          const marks = new Set(g.marks.map((m) => m.join(",")));
          const values = Array.isArray(g.values[0]) ? g.values : [g.values];
          mats.append(matrixTable(values, { caption: plain(g.title), format: sig, classOf: (r, k) => (marks.has(`${r},${k}`) ? "target" : null) }));
        });
        box.append(mats);
      }
    }
    walk.append(box);
  }
  walk.append(el("details", {}, el("summary", { text: t("app_back_as_text") }), el("pre", { "data-testid": "backward-text", text: d.text })));
}
