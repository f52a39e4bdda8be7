// The arithmetic of one clicked cell, with the model's own numbers (from /api/cell).
import { guarded, postJSON } from "./api.js";
import { el, matrixTable, paren, sig } from "./format.js";
import { t } from "./i18n.js";
import { state } from "./state.js";

let panel;
let selected = null;     // {step, position}
let shownChannel = 0;

export function initCell() {
  panel = document.querySelector("[data-testid=cell-arithmetic]");
}

/** Ask for the arithmetic of `position` in layer `step` for the current input, and show it. */
export async function showCell(step, position) {
  if (!state.prediction) return;
  selected = { step, position };
  const p = state.prediction;
  const data = await guarded(() => postJSON("/api/cell", { input: p.input, step, position, model: p.model }));
  if (data) render(data);
}

export function refreshCell() { if (selected && state.prediction) showCell(selected.step, selected.position); }

export function hideCell() { selected = null; if (panel) panel.hidden = true; }

const numAttr = (testid, v, text) => el("span", { "data-testid": testid, "data-value": v, class: "v", text: text ?? sig(v) });

function line(...parts) { return el("p", { class: "sumline formula" }, ...parts); }

function render(c) {
  panel.replaceChildren();
  panel.hidden = false;
  panel.dataset.kind = c.kind;
  panel.dataset.step = c.step;
  panel.dataset.position = c.position.join(",");
  const where = c.position.length === 3
    ? t("app_cell_where", { row: c.position[0], col: c.position[1], channel: c.position[2] })
    : t("app_unit_where", { unit: c.position[0] });
  panel.append(el("div", { class: "row" }, el("h2", { text: t("app_cell_title", { name: c.layer, kind: c.layer_class, where }) }),
    el("button", { type: "button", "data-testid": "cell-close", text: "×", onclick: hideCell })));
  const body = { conv: conv, pool: pool, dense: dense, flatten: flatten, global_pool: globalPool }[c.kind] || generic;
  body(c);
  panel.append(line(t("app_cell_model_value"), " ", numAttr("cell-value", c.value), " ",
    Math.abs(c.value - c.output) <= 1e-4 * Math.max(1, Math.abs(c.value)) ? el("span", { class: "ok", text: "✓" }) : el("span", { text: "≈" })));
  panel.scrollIntoView({ block: "nearest" });
}

function activationLine(c) {
  if (c.activation === "linear") return line(t("app_cell_linear"), " ", numAttr("cell-output", c.output));
  if (c.activation === "softmax") return softmaxPart(c);
  return line(t("app_cell_activation", { activation: c.activation, z: sig(c.z) }), " ", numAttr("cell-output", c.output));
}

function softmaxPart(c) {
  const box = el("div", {});
  const unit = c.position[c.position.length - 1];
  const total = c.exps.reduce((a, b) => a + b, 0);
  box.append(el("p", { text: t("app_cell_softmax", { count: c.logits.length }) }));
  box.append(matrixTable([c.logits, c.exps], { caption: t("app_cell_softmax_table"), format: sig,
    classOf: (r, k) => (k === unit ? "target" : null) }));
  box.append(line(`exp(${sig(c.logits[unit])} − max) / Σ = ${sig(c.exps[unit])} / ${sig(total)} = `, numAttr("cell-output", c.output)));
  return box;
}

function conv(c) {
  const C = c.window.length;
  const [kh, kw] = [c.window[0].length, c.window[0][0].length];
  panel.append(el("p", { text: t("app_cell_conv_intro", { kh, kw, channels: C, top: c.top, left: c.left, s: c.stride.join("×") }) }));
  if (C > 1) {
    const sums = el("div", { class: "row" }, el("span", { text: t("app_cell_channel_sums") }));
    c.channel_sums.forEach((v, ch) => sums.append(el("button", { type: "button", "data-testid": "cell-channel", "data-channel": ch,
      "aria-pressed": String(ch === shownChannel), text: `${ch}: ${sig(v)}`, onclick: () => { shownChannel = ch; render(c); } })));
    panel.append(sums);
  }
  const ch = Math.min(shownChannel, C - 1);
  const rowsLabel = (r) => c.top + r;
  const inside = (r, k) => (c.top + r >= 0 && c.left + k >= 0) ? "win" : "pad";
  panel.append(el("div", { class: "mats" },
    matrixTable(c.window[ch], { caption: t("app_cell_window", { rows: `${rowsLabel(0)}–${rowsLabel(kh - 1)}`, cols: `${c.left}–${c.left + kw - 1}`, channel: ch }), format: sig, classOf: inside, testid: "cell-window" }),
    el("span", { class: "op", text: "⊙" }),
    matrixTable(c.weights[ch], { caption: t("app_cell_filter", { channel: ch, filter: c.position[2] }), format: sig, testid: "cell-filter" }),
    el("span", { class: "op", text: "=" }),
    matrixTable(c.products[ch], { caption: t("app_cell_products"), format: sig, testid: "cell-products" })));
  const terms = c.products[ch].flat();
  const expr = terms.length <= 9 ? c.window[ch].flat().map((v, i) => `${paren(v)}×${paren(c.weights[ch].flat()[i])}`).join(" + ") : null;
  if (expr) panel.append(line(expr, " = ", sig(c.channel_sums ? c.channel_sums[ch] : terms.reduce((a, b) => a + b, 0))));
  panel.append(line(C > 1 ? t("app_cell_sum_all", { channels: C, count: C * kh * kw }) : t("app_cell_sum"), " ", numAttr("cell-sum", c.total)));
  panel.append(line(t("app_cell_bias"), " ", sig(c.total), " + ", paren(c.bias), " = ", numAttr("cell-bias", c.bias, ""), numAttr("cell-z", c.z)));
  panel.append(activationLine(c));
}

function pool(c) {
  const [ph, pw] = [c.window.length, c.window[0].length];
  const win = c.winner;
  panel.append(el("p", { text: t(c.mode === "max" ? "app_cell_pool_max" : "app_cell_pool_avg", { ph, pw, top: c.top, left: c.left, channel: c.position[2] }) }));
  panel.append(matrixTable(c.window, { caption: t("app_cell_pool_window"), format: sig, testid: "cell-window",
    classOf: (r, k) => (win && r === win[0] && k === win[1] ? "target" : "win") }));
  if (c.mode === "max") panel.append(line(t("app_cell_pool_winner", { row: win[0], col: win[1] }), " ", numAttr("cell-output", c.output)));
  else panel.append(line(t("app_cell_pool_mean", { count: ph * pw }), " ", numAttr("cell-output", c.output)));
}

function dense(c) {
  panel.append(el("p", { text: t("app_cell_dense_intro", { count: c.count, shown: c.terms.length }) }));
  const rows = c.terms.map((term) => [term.i, term.x, term.w, term.product]);
  const table = el("table", { class: "m terms", "data-testid": "cell-terms" },
    el("tr", {}, el("td", { text: "i" }), el("td", { text: "x[i]" }), el("td", { text: "w[i]" }), el("td", { text: "x[i]×w[i]" })),
    ...rows.map((r) => el("tr", {}, el("td", { text: r[0] }), el("td", { text: sig(r[1]) }), el("td", { text: sig(r[2]) }), el("td", { text: sig(r[3]) }))));
  panel.append(table);
  panel.append(line(t("app_cell_dense_sum", { count: c.count }), " ", numAttr("cell-sum", c.total)));
  panel.append(line(t("app_cell_bias"), " ", sig(c.total), " + ", paren(c.bias), " = ", numAttr("cell-bias", c.bias, ""), numAttr("cell-z", c.z)));
  panel.append(activationLine(c));
}

function flatten(c) {
  panel.append(line(t("app_cell_flatten", { row: c.source[0], col: c.source[1], channel: c.source[2] ?? 0 }), " ", numAttr("cell-output", c.output)));
}

function globalPool(c) {
  panel.append(line(t(c.mode === "max" ? "app_cell_global_max" : "app_cell_global_avg", { count: c.count }), " ", numAttr("cell-output", c.output)));
}

function generic(c) {
  if (c.inputs && c.inputs.length) {
    panel.append(el("p", { text: t("app_cell_inputs", { values: c.inputs.map((v) => sig(v)).join(", ") }) }));
    const consts = Object.entries(c.constants || {});
    if (consts.length) panel.append(el("p", { class: "formula", text: consts.map(([k, v]) => `${k} = ${sig(v)}`).join(", ") }));
    if (c.kind === "activation") { panel.append(activationLine(c)); return; }
  }
  panel.append(line(t("app_cell_result"), " ", numAttr("cell-output", c.output)));
}

