// One view per layer call, in the order they run, with arrows where the model is a graph.
import { bytes, legend, paint, value } from "./colors.js";
import { el, percent, shape, sig } from "./format.js";
import { plain, t } from "./i18n.js";

const THUMB = 54;        // thumbnail side in CSS pixels
const DETAIL = 300;      // side of an opened channel

/**
 * Views of a graph of layers.  `kind` is "forward" (feature maps, clickable cells) or "backward"
 * (gradients).  `onCell(step, position)` is called for a click on a cell or a unit.
 */
export class LayerGraph {
  constructor(root, kind, onCell) {
    this.root = root;
    this.kind = kind;
    this.onCell = onCell;
    this.views = root.querySelector(".views");
    this.svg = root.querySelector("svg.edges");
    this.cards = [];
    this.open = new Map();   // step -> opened channel
    this.data = null;
    if (this.svg) new ResizeObserver(() => this.drawEdges()).observe(this.views);
  }

  /** Build one card per layer of the model description. */
  setModel(desc) {
    this.desc = desc;
    this.views.replaceChildren();
    this.cards = [];
    this.open.clear();
    if (!desc) { this.drawEdges(); return; }
    const testid = this.kind === "forward" ? "layer-view" : "gradient-view";
    this.inputCard = el("article", { class: "layer input", "data-testid": this.kind === "forward" ? "input-view" : "saliency-view", "data-step": -1 },
      el("header", {}, el("span", { class: "idx", text: "in" }), el("span", { class: "lname", text: t("app_input") }),
        el("span", { class: "shape", text: shape(desc.input_shape) })), el("div", { class: "body" }));
    this.views.append(this.inputCard);
    for (const layer of desc.layers) {
      const reads = layer.inputs.map((s) => (s < 0 ? t("app_input") : desc.layers[s].name));
      const chain = layer.inputs.length === 1 && layer.inputs[0] === layer.step - 1;
      const head = el("header", { "data-testid": "layer-header" },
        el("span", { class: "idx", text: String(layer.step) }),
        el("span", { class: "lname", text: layer.name }),
        el("span", { class: "kind", text: layer.kind + (layer.activation && layer.activation !== "linear" ? ` (${layer.activation})` : "") }),
        el("span", { class: "shape", text: shape(layer.output_shape) }),
        el("span", { class: "params", text: t("app_params", { count: layer.params.toLocaleString("en") }) }),
        chain ? null : el("span", { class: "reads", "data-testid": "layer-reads", text: t("app_reads", { names: reads.join(" + ") }) }));
      const card = el("article", { class: "layer", "data-testid": testid, "data-step": layer.step, "data-kind": layer.kind },
        head,
        this.kind === "forward" ? el("details", { "data-testid": "layer-formulas" },
          el("summary", { text: t("app_formulas") }), el("pre", { text: plain(layer.explain.join("\n")) })) : null,
        el("div", { class: "body" }));
      head.addEventListener("click", () => this.toggle(layer.step));
      this.cards.push(card);
      this.views.append(card);
    }
    requestAnimationFrame(() => this.drawEdges());
  }

  toggle(step) {
    if (this.open.has(step)) this.open.delete(step);
    else this.open.set(step, 0);
    this.renderStep(step);
  }

  /** Fill the cards with data: `layers` (one view per step) and the input's view. */
  setData(layers, inputView) {
    this.data = layers;
    this.inputView = inputView;
    if (!this.desc) return;
    if (this.inputCard) {
      const body = this.inputCard.querySelector(".body");
      body.replaceChildren();
      if (inputView) body.append(...this.mapsBody(-1, inputView, true));
    }
    for (const layer of this.desc.layers) this.renderStep(layer.step);
    requestAnimationFrame(() => this.drawEdges());
  }

  renderStep(step) {
    const card = this.cards[step];
    if (!card) return;
    const body = card.querySelector(".body");
    body.replaceChildren();
    card.classList.toggle("open", this.open.has(step));
    card.dataset.open = String(this.open.has(step));
    const view = this.data && this.data[step];
    if (!view || view.kind === "none") { body.append(el("p", { class: "hint", text: this.data ? t("app_no_gradient") : t("app_draw_prompt") })); return; }
    if (view.kind === "maps") body.append(...this.mapsBody(step, view, false));
    else body.append(...this.vectorBody(step, view));
  }

  mapsBody(step, view, isInput) {
    const [h, w, c] = view.shape;
    const data = bytes(view.data);
    const side = Math.max(2, Math.floor(THUMB / Math.max(h, w)));
    const grid = el("div", { class: "maps" });
    const opened = this.open.get(step);
    for (let ch = 0; ch < c; ch++) {
      const canvas = el("canvas", { "data-testid": "channel", "data-channel": ch, title: t("app_channel", { channel: ch }) });
      paint(canvas, data, ch * h * w, h, w, isInput ? "gray" : view.scale);
      canvas.style.width = `${w * side}px`;
      canvas.style.height = `${h * side}px`;
      if (opened === ch) canvas.classList.add("sel");
      if (!isInput) canvas.addEventListener("click", () => { this.open.set(step, ch); this.renderStep(step); });
      grid.append(canvas);
    }
    const parts = [grid, legend(view, sig, isInput ? "" : t(this.kind === "forward" ? "app_legend_values" : "app_legend_gradient"))];
    if (!isInput && opened !== undefined) parts.push(this.detail(step, view, data, opened));
    if (isInput) {
      grid.querySelectorAll("canvas").forEach((cv) => { cv.style.width = `${w * 5}px`; cv.style.height = `${h * 5}px`; });
    }
    return parts;
  }

  detail(step, view, data, ch) {
    const [h, w] = view.shape;
    const big = el("canvas", { class: "big", "data-testid": "layer-detail-canvas", "data-step": step, "data-channel": ch,
      "data-rows": h, "data-cols": w });
    paint(big, data, ch * h * w, h, w, view.scale);
    const cell = Math.max(4, Math.floor(DETAIL / Math.max(h, w)));
    big.style.width = `${w * cell}px`;
    big.style.height = `${h * cell}px`;
    const info = el("div", { class: "hint", "data-testid": "layer-detail-info" });
    big.addEventListener("mousemove", (ev) => {
      const [r, c] = cellAt(big, ev, h, w);
      const q = data[ch * h * w + r * w + c];
      info.textContent = t("app_cell_hover", { row: r, col: c, value: sig(value(view, q)) });
    });
    if (this.onCell) big.addEventListener("click", (ev) => { const [r, c] = cellAt(big, ev, h, w); this.onCell(step, [r, c, ch]); });
    return el("div", { class: "detail", "data-testid": "layer-detail" },
      big, el("div", {}, el("p", { text: t(this.kind === "forward" ? "app_detail_hint" : "app_detail_hint_back", { channel: ch }) }), info));
  }

  vectorBody(step, view) {
    const n = view.shape.reduce((a, b) => a * b, 1);
    const data = bytes(view.data);
    const isLast = this.desc && step === this.desc.output_step && view.values;
    if (isLast && this.kind === "forward") {
      const rows = view.values.map((v, k) => {
        const bar = el("div", { class: "bar" }, el("span"));
        bar.firstChild.style.width = `${(100 * Math.max(0, Math.min(1, v))).toFixed(1)}%`;
        const row = el("div", { class: "bar-row", "data-testid": "unit", "data-unit": k }, el("span", { text: k }), bar, el("span", { text: percent(v) }));
        if (this.onCell) row.addEventListener("click", () => this.onCell(step, [k]));
        return row;
      });
      return [el("div", { class: "probs vector" }, rows)];
    }
    const canvas = el("canvas", { "data-testid": "vector-canvas", "data-units": n });
    const ctx = canvas.getContext("2d");
    if (n <= 256) {
      const bw = Math.max(2, Math.min(14, Math.floor(560 / n)));
      canvas.width = n * bw;
      canvas.height = 70;
      const zero = view.lo < 0 ? 35 : 68;
      ctx.fillStyle = "#eef1f6";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < n; i++) {
        const v = value(view, data[i]);
        const top = view.lo < 0 ? zero - (v / view.hi) * 33 : zero - (v / (view.hi || 1)) * 64;
        ctx.fillStyle = v >= 0 ? "#2f6fd6" : "#d94a4a";
        ctx.fillRect(i * bw, Math.min(top, zero), Math.max(1, bw - 1), Math.abs(zero - top));
      }
      canvas.dataset.barWidth = bw;
      if (this.onCell) canvas.addEventListener("click", (ev) => {
        const r = canvas.getBoundingClientRect();
        const i = Math.min(n - 1, Math.floor(((ev.clientX - r.left) * canvas.width) / r.width / bw));
        this.onCell(step, [i]);
      });
    } else {
      const cols = Math.min(n, 104);
      const rows = Math.ceil(n / cols);
      const padded = new Uint8Array(rows * cols);
      padded.set(data);
      paint(canvas, padded, 0, rows, cols, view.scale);
      canvas.style.width = `${cols * 5}px`;
      canvas.style.height = `${rows * 5}px`;
      canvas.dataset.cols = cols;
      if (this.onCell) canvas.addEventListener("click", (ev) => {
        const [r, c] = cellAt(canvas, ev, rows, cols);
        this.onCell(step, [Math.min(n - 1, r * cols + c)]);
      });
    }
    return [el("div", { class: "vector" }, canvas), legend(view, sig, t(this.kind === "forward" ? "app_legend_values" : "app_legend_gradient")),
      el("p", { class: "hint", text: t(n > 256 ? "app_vector_strip" : "app_vector_bars", { count: n }) })];
  }

  /** Arrows in the left margin: from each layer to the layers that read it. */
  drawEdges() {
    if (!this.svg) return;
    const svg = this.svg;
    svg.replaceChildren();
    if (!this.desc) return;
    const ns = "http://www.w3.org/2000/svg";
    const defs = document.createElementNS(ns, "defs");
    const marker = document.createElementNS(ns, "marker");
    marker.setAttribute("id", "arrow");
    marker.setAttribute("viewBox", "0 0 10 10");
    marker.setAttribute("refX", "9");
    marker.setAttribute("refY", "5");
    marker.setAttribute("markerWidth", "6");
    marker.setAttribute("markerHeight", "6");
    marker.setAttribute("orient", "auto");
    const tip = document.createElementNS(ns, "path");
    tip.setAttribute("d", "M0,0 L10,5 L0,10 z");
    tip.setAttribute("fill", "#6b7488");
    marker.append(tip);
    defs.append(marker);
    svg.append(defs);
    const box = this.views.getBoundingClientRect();
    svg.setAttribute("height", String(this.views.scrollHeight));
    const cardOf = (s) => (s < 0 ? this.inputCard : this.cards[s]);
    let lane = 0;
    for (const layer of this.desc.layers) {
      for (const src of layer.inputs) {
        const a = cardOf(src).getBoundingClientRect();
        const b = cardOf(layer.step).getBoundingClientRect();
        const y0 = a.top - box.top + Math.min(24, a.height / 2);
        const y1 = b.top - box.top + 14;
        const path = document.createElementNS(ns, "path");
        const adjacent = src === layer.step - 1;
        const x = adjacent ? 30 : 22 - 7 * (lane++ % 3);
        path.setAttribute("d", `M42,${y0} C${x},${y0} ${x},${y1} 42,${y1}`);
        path.setAttribute("fill", "none");
        path.setAttribute("stroke", adjacent ? "#9aa3b5" : "#e66101");
        path.setAttribute("stroke-width", adjacent ? "1.5" : "2");
        path.setAttribute("marker-end", "url(#arrow)");
        path.dataset.testid = "graph-edge";
        path.dataset.from = String(src);
        path.dataset.to = String(layer.step);
        svg.append(path);
      }
    }
  }
}

function cellAt(canvas, ev, rows, cols) {
  const r = canvas.getBoundingClientRect();
  const col = Math.max(0, Math.min(cols - 1, Math.floor(((ev.clientX - r.left) / r.width) * cols)));
  const row = Math.max(0, Math.min(rows - 1, Math.floor(((ev.clientY - r.top) / r.height) * rows)));
  return [row, col];
}

export function modelSummary(desc) {
  if (!desc) return "";
  return t("app_model_summary", { name: desc.name, layers: desc.layers.length, params: desc.params.toLocaleString("en"),
    shape: shape(desc.input_shape), classes: desc.classes });
}

