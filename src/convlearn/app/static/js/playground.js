// The guide's convolution and pooling, interactive: edit, step, play.
import { guarded, postJSON } from "./api.js";
import { el, matrixTable, num, paren } from "./format.js";
import { currentLang, t } from "./i18n.js";

const $ = (id) => document.querySelector(`[data-testid=${id}]`);
const GUIDE_IMAGE = "0 0 0 0 0 0\n0 1 1 1 1 0\n0 0 0 0 1 0\n0 0 0 1 0 0\n0 0 1 0 0 0\n0 0 1 0 0 0";
const GUIDE_KERNEL = "-1 0 1\n-1 0 1\n-1 0 1";
let data = null;
let step = 0;
let poolStep = 0;
let timer = null;
let pending = null;

function parse(text) {
  return text.trim().split(/\n|;/).filter((r) => r.trim() !== "").map((r) => r.trim().split(/[\s,]+/).map(Number));
}

function format(m) { return m.map((r) => r.map((v) => num(v)).join(" ")).join("\n"); }

export function initPlayground() {
  $("play-image").value = GUIDE_IMAGE;
  $("play-kernel").value = GUIDE_KERNEL;
  for (const id of ["play-image", "play-kernel"]) $(id).addEventListener("input", () => schedule());
  for (const id of ["play-stride", "play-padding", "play-pool", "play-pool-size"]) $(id).addEventListener("change", () => compute());
  $("play-reset").addEventListener("click", () => {
    $("play-image").value = GUIDE_IMAGE; $("play-kernel").value = GUIDE_KERNEL;
    $("play-stride").value = "1"; $("play-padding").value = "valid"; $("play-pool").value = "max"; $("play-pool-size").value = "2";
    compute();
  });
  $("play-prev").addEventListener("click", () => go(step - 1));
  $("play-next").addEventListener("click", () => go(step + 1));
  $("play-play").addEventListener("click", togglePlay);
  $("pool-prev").addEventListener("click", () => goPool(poolStep - 1));
  $("pool-next").addEventListener("click", () => goPool(poolStep + 1));
}

function schedule() { clearTimeout(pending); pending = setTimeout(compute, 250); }

export async function compute() {
  const padding = $("play-padding").value;
  const body = {
    image: parse($("play-image").value), kernel: parse($("play-kernel").value),
    stride: Number($("play-stride").value), padding: /^\d+$/.test(padding) ? Number(padding) : padding,
    pool: $("play-pool").value, pool_size: Number($("play-pool-size").value),
  };
  const result = await guarded(() => postJSON(`/api/playground?lang=${currentLang()}`, body));
  if (!result) return;
  data = result;
  step = Math.min(step, data.conv.steps.length - 1);
  poolStep = Math.min(poolStep, data.pool.steps.length - 1);
  render();
}

function go(k) {
  if (!data) return;
  const n = data.conv.steps.length;
  step = ((k % n) + n) % n;
  render();
}

function goPool(k) {
  if (!data) return;
  const n = data.pool.steps.length;
  poolStep = ((k % n) + n) % n;
  render();
}

function togglePlay() {
  if (timer) { clearInterval(timer); timer = null; $("play-play").textContent = t("app_play"); return; }
  $("play-play").textContent = t("app_pause");
  timer = setInterval(() => go(step + 1), 800);
}

function toggleCell(r, c) {
  const m = parse($("play-image").value);
  if (!m[r] || m[r][c] === undefined) return;
  m[r][c] = m[r][c] === 0 ? 1 : 0;
  $("play-image").value = format(m);
  compute();
}

function render() {
  const c = data.conv;
  const s = c.steps[step];
  const [kh, kw] = [c.kernel.length, c.kernel[0].length];
  const [pt, , pl] = c.pads;
  const H = c.image.length;
  const W = c.image[0].length;
  $("play-step").textContent = t("app_play_step", { step: step + 1, total: c.steps.length, row: s.row, col: s.col });
  const inWin = (r, k) => r >= s.top && r < s.top + kh && k >= s.left && k < s.left + kw;
  const isPad = (r, k) => r < pt || r >= pt + H || k < pl || k >= pl + W;
  const image = matrixTable(c.padded, { caption: t("app_play_image"), testid: "play-image-grid",
    classOf: (r, k) => [inWin(r, k) ? "win" : null, isPad(r, k) ? "pad" : null].filter(Boolean).join(" ") || null,
    cellAttrs: (r, k) => ({ "data-row": r - pt, "data-col": k - pl }) });
  image.classList.add("image");
  image.addEventListener("click", (ev) => {
    const td = ev.target.closest("td");
    if (td && !td.classList.contains("pad")) toggleCell(Number(td.dataset.row), Number(td.dataset.col));
  });
  const out = c.output.map((row, r) => row.map((v, k) => (r * row.length + k <= step ? v : NaN)));
  const expr = s.products.flat().map((v) => paren(v, num)).join(" + ");
  $("play-board").replaceChildren(
    image, el("span", { class: "op", text: "⊙" }),
    matrixTable(c.kernel, { caption: t("app_play_kernel") }), el("span", { class: "op", text: "=" }),
    matrixTable(s.products, { caption: t("app_cell_products") }), el("span", { class: "op", text: "Σ →" }),
    matrixTable(out, { caption: t("app_play_feature_map"), testid: "play-output",
      classOf: (r, k) => (r === s.row && k === s.col ? "target" : null) }),
    el("p", { class: "formula", "data-testid": "play-sum", "data-value": s.total, text: t("app_play_sum", { expr, total: num(s.total) }) }));
  const formula = $("play-formula");
  formula.replaceChildren(el("p", { text: c.size_formula }));
  const same = JSON.stringify(c.size_height) === JSON.stringify(c.size_width);
  if (same) formula.append(el("p", { "data-testid": "play-size", text: `${t("app_play_size_both")} ${c.size_height.join("  ")}` }));
  else {
    formula.append(el("p", { "data-testid": "play-size", text: `${t("app_play_size_h")} ${c.size_height.join("  ")}` }));
    formula.append(el("p", { text: `${t("app_play_size_w")} ${c.size_width.join("  ")}` }));
  }
  formula.append(el("p", { text: c.size_result }));
  renderPool();
}

function renderPool() {
  const p = data.pool;
  const s = p.steps[poolStep];
  const [ph, pw] = p.pool_size;
  $("pool-step").textContent = t("app_play_step", { step: poolStep + 1, total: p.steps.length, row: s.row, col: s.col });
  const inWin = (r, k) => r >= s.top && r < s.top + ph && k >= s.left && k < s.left + pw;
  const winner = s.winner ? [s.top + s.winner[0], s.left + s.winner[1]] : null;
  const out = p.output.map((row, r) => row.map((v, k) => (r * row.length + k <= poolStep ? v : NaN)));
  $("pool-board").replaceChildren(
    matrixTable(data.relu.output, { caption: t("app_play_relu", { changed: data.relu.changed }),
      classOf: (r, k) => (winner && r === winner[0] && k === winner[1] ? "target" : inWin(r, k) ? "win" : null) }),
    el("span", { class: "op", text: "→" }),
    matrixTable(out, { caption: t(p.mode === "max" ? "app_play_pooled_max" : "app_play_pooled_avg"), testid: "pool-output",
      classOf: (r, k) => (r === s.row && k === s.col ? "target" : null) }),
    el("div", {}, ...p.size_height.map((line) => el("p", { class: "formula", text: line }))));
}
