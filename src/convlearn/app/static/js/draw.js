// The drawing canvas, image upload, the preprocessing steps and the prediction.
import { ApiError, clearError, guarded, postBytes, showError } from "./api.js";
import { bytes, paint } from "./colors.js";
import { el, percent } from "./format.js";
import { t } from "./i18n.js";
import { emit, state } from "./state.js";

const $ = (id) => document.querySelector(`[data-testid=${id}]`);
let canvas, ctx;
let inFlight = false;
let pending = null;       // "draft" or "final": a request waits for the one in flight
let blank = true;
let last = null;

function clear() {
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  blank = true;
  state.prediction = null;
  showPrediction(null);
  showSteps(null);
  emit("prediction", { payload: null, final: true });
}

function point(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * (canvas.width / r.width), (ev.clientY - r.top) * (canvas.height / r.height)];
}

function stroke(from, to) {
  ctx.strokeStyle = "black";
  ctx.lineWidth = Number($("pen-size").value);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0], from[1]);
  ctx.lineTo(to[0], to[1]);
  ctx.stroke();
  blank = false;
}

/** Send the canvas (one brightness byte per pixel) and show the answer; one request at a time. */
async function predict(kind) {
  if (blank || !state.model) return;
  if (inFlight) { pending = pending === "final" ? "final" : kind; return; }
  inFlight = true;
  const { width: w, height: h } = canvas;
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const gray = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) gray[i] = rgba[i * 4];
  try {
    const payload = await postBytes(`/api/predict?w=${w}&h=${h}`, gray);
    accept(payload, kind === "final");
  } catch (e) {
    if (e instanceof ApiError && e.key === "app_err_blank") showPrediction(null);
    else showError(e);
  } finally {
    inFlight = false;
    if (pending) { const next = pending; pending = null; predict(next); }
  }
}

function accept(payload, final) {
  clearError();
  state.prediction = payload;
  showPrediction(payload);
  showSteps(payload.steps);
  emit("prediction", { payload, final });
}

export function showPrediction(p) {
  last = p;
  const card = $("prediction");
  const probs = $("probabilities");
  probs.replaceChildren();
  if (!p) {
    card.dataset.class = "";
    $("predicted-class").textContent = "–";
    $("predicted-prob").textContent = state.model ? t("app_draw_prompt") : t("app_no_model_short");
    return;
  }
  card.dataset.class = String(p.predicted);
  $("predicted-class").textContent = String(p.predicted);
  $("predicted-prob").textContent = t("app_confidence", { percent: percent(p.probabilities[p.predicted]) });
  p.probabilities.forEach((v, k) => {
    const bar = el("div", { class: "bar" }, el("span"));
    bar.firstChild.style.width = `${(100 * v).toFixed(1)}%`;
    probs.append(el("div", { class: `bar-row${k === p.predicted ? " best" : ""}`, "data-testid": "probability",
      "data-class": k, "data-value": v }, el("span", { text: k }), bar, el("span", { text: percent(v) })));
  });
}

function showSteps(steps) {
  const box = $("preprocess-steps");
  box.replaceChildren();
  if (!steps) return;
  for (const s of steps) {
    const c = el("canvas", { "data-testid": "preprocess-step", "data-step": s.name });
    paint(c, bytes(s.data), 0, s.shown[0], s.shown[1], "gray");
    box.append(el("figure", {}, c, el("figcaption", {},
      el("div", { text: t(`app_step_${s.name}`) }), el("div", { text: `${s.size[0]}×${s.size[1]}` }))));
  }
}

async function upload(file) {
  if (!file || !state.model) return;
  const data = new Uint8Array(await file.arrayBuffer());
  const payload = await guarded(() => postBytes("/api/image", data, file.type || "application/octet-stream"));
  if (!payload) return;
  // show the picture in the canvas too: strokes drawn after it add to it
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const f = Math.min(canvas.width / img.width, canvas.height / img.height);
    ctx.drawImage(img, (canvas.width - img.width * f) / 2, (canvas.height - img.height * f) / 2, img.width * f, img.height * f);
    URL.revokeObjectURL(url);
    blank = false;
  };
  img.src = url;
  accept(payload, true);
}

export function redrawLabels() { showPrediction(last); showSteps(last ? last.steps : null); }

/** Predict again (the model changed, or the page asked): the current drawing, as a final stroke. */
export function repredict() { if (!blank) predict("final"); else clear(); }

export function initDraw() {
  canvas = $("draw-canvas");
  ctx = canvas.getContext("2d", { willReadFrequently: true });
  clear();
  let prev = null;
  canvas.addEventListener("pointerdown", (ev) => {
    canvas.setPointerCapture(ev.pointerId);
    prev = point(ev);
    state.drawing = true;
    stroke(prev, [prev[0] + 0.01, prev[1]]);
    predict("draft");
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!prev) return;
    const p = point(ev);
    stroke(prev, p);
    prev = p;
    predict("draft");
  });
  const end = () => { if (!prev) return; prev = null; state.drawing = false; predict("final"); };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("clear-canvas").addEventListener("click", clear);
  $("upload-image").addEventListener("change", (ev) => { upload(ev.target.files[0]); ev.target.value = ""; });
}
