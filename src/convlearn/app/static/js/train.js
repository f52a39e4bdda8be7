// Live training: start, pause, stop; curves, filters and feature maps pushed by Server-Sent Events.
import { getJSON, guarded, postJSON, showError } from "./api.js";
import { bytes, legend, paint } from "./colors.js";
import { el, percent, sig } from "./format.js";
import { t } from "./i18n.js";
import { emit, state } from "./state.js";

const $ = (id) => document.querySelector(`[data-testid=${id}]`);
let source = null;
let points = [];          // {x: epochs done (fraction), loss, accuracy}
let status = { state: "idle", result: null };
let lastError = null;
let runEpochs = 1;        // epochs of the run being shown
let shownRun = 0;         // the run whose events this tab has followed

export function initTrain() {
  $("train-start").addEventListener("click", start);
  $("train-pause").addEventListener("click", () => guarded(() => postJSON(status.state === "paused" ? "/api/train/resume" : "/api/train/pause", {})));
  $("train-stop").addEventListener("click", () => guarded(() => postJSON("/api/train/stop", {})));
  $("train-open").addEventListener("click", async () => {
    const data = await guarded(() => postJSON(`/api/train/open?lang=${document.documentElement.lang.startsWith("zh") ? "zh" : "en"}`, {}));
    if (data) emit("model-opened", data.model);
  });
  setInterval(() => { if (!source && document.visibilityState === "visible") poll(); }, 3000);
}

/** Look at the server's training (another tab may have started one) and follow it if it runs. */
export async function poll() {
  let s;
  try { s = await getJSON("/api/train"); } catch (e) { return; }
  if (source) return;
  // follow a running training, and replay a finished one this tab has not shown (the curves)
  if (["loading", "running", "paused"].includes(s.state) || (s.run && s.run !== shownRun && s.events > 0)) {
    shownRun = s.run;
    points = [];
    connect();
  } else { status = s; show(); }
}

async function start() {
  const num = (id) => Number($(id).value);
  const body = { model: $("train-model").value, dataset: $("train-dataset").value, epochs: num("train-epochs"),
    learning_rate: num("train-lr"), batch_size: num("train-batch"), images: num("train-images") };
  if (state.prediction) body.input = state.prediction.input;
  lastError = null;
  const r = await guarded(() => postJSON("/api/train/start", body));
  if (!r) return;
  points = [];
  shownRun = r.run;
  drawCurve();
  connect();
}

function connect() {
  if (source) source.close();
  source = new EventSource("/api/train/events");
  const handle = (ev) => {
    const e = JSON.parse(ev.data);
    status.state = e.state;
    if (e.type === "start") { points = []; status.result = null; runEpochs = e.config.epochs; }
    if (e.type === "progress" && e.steps) {
      points.push({ x: e.epoch + e.batch / e.steps, loss: e.loss, accuracy: e.accuracy, epochs: e.epochs });
      drawCurve();
    }
    if (e.type === "epoch") {  // the epoch's final running averages: a point at its end
      points.push({ x: e.epoch + 1, loss: e.loss, accuracy: e.accuracy, epochs: runEpochs });
      drawCurve();
    }
    if (e.type === "done") { status.result = e.result; finish(); }
    if (e.type === "failed") { lastError = e.error; showError({ message: t("app_train_failed", { error: e.error }) }); finish(); }
    show();
  };
  for (const type of ["start", "state", "progress", "epoch", "done", "failed"]) source.addEventListener(type, handle);
  source.addEventListener("snapshot", (ev) => snapshot(JSON.parse(ev.data)));
}

function finish() {
  if (source) { source.close(); source = null; }
}

function show() {
  const s = status.state;
  const label = $("train-status");
  label.dataset.state = s;
  const last = points[points.length - 1];
  let text = t(`app_train_state_${s}`);
  if (last && (s === "running" || s === "paused")) {
    text += " — " + t("app_train_progress", { epoch: Math.floor(last.x) + 1, epochs: last.epochs || "?",
      loss: sig(last.loss), accuracy: last.accuracy === null ? "–" : percent(last.accuracy) });
  }
  if (s === "failed" && lastError) text += `: ${lastError}`;
  label.textContent = text;
  const active = ["loading", "running", "paused"].includes(s);
  $("train-start").disabled = active;
  $("train-pause").disabled = !(s === "running" || s === "paused");
  $("train-pause").textContent = t(s === "paused" ? "app_train_resume" : "app_train_pause");
  $("train-stop").disabled = !active;
  const res = status.result;
  $("train-result").hidden = !res;
  if (res) {
    $("train-result-text").textContent = t("app_train_result", { accuracy: percent(res.test_accuracy), images: res.test_images,
      seconds: res.seconds.toFixed(1), path: res.path });
    $("train-result-text").dataset.accuracy = res.test_accuracy;
  }
}

export function redrawTrain() { show(); drawCurve(); }

function drawCurve() {
  const canvas = $("train-curve");
  canvas.dataset.points = String(points.length);
  const ctx = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, W, H);
  const pad = { l: 44, r: 44, t: 10, b: 26 };
  ctx.strokeStyle = "#ccd2dd";
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
  ctx.fillStyle = "#5d6677";
  ctx.font = "11px sans-serif";
  const xmax = Math.max(1, ...points.map((p) => p.epochs || 1));
  const lmax = Math.max(0.1, ...points.map((p) => p.loss || 0));
  for (let k = 0; k <= xmax; k++) {
    const x = pad.l + (k / xmax) * (W - pad.l - pad.r);
    ctx.fillText(String(k), x - 3, H - 8);
  }
  ctx.fillText(sig(lmax), 4, pad.t + 10);
  ctx.fillText("0", 30, H - pad.b);
  ctx.fillText("100%", W - pad.r + 4, pad.t + 10);
  ctx.fillText(t("app_train_epoch_axis"), W / 2 - 20, H - 8 + 0);
  const line = (key, scale, colour) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let first = true;
    for (const p of points) {
      if (p[key] === null || p[key] === undefined) continue;
      const x = pad.l + (p.x / xmax) * (W - pad.l - pad.r);
      const y = H - pad.b - (p[key] / scale) * (H - pad.t - pad.b);
      if (first) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      first = false;
    }
    ctx.stroke();
  };
  line("loss", lmax, "#d94a4a");
  line("accuracy", 1, "#2f6fd6");
}

function snapshot(s) {
  const box = $("train-filters");
  box.replaceChildren();
  if (s.filters) {
    const [F, kh, kw] = s.filters.shape;
    const data = bytes(s.filters.data);
    for (let f = 0; f < F; f++) {
      const c = el("canvas", { "data-testid": "train-filter" });
      paint(c, data, f * kh * kw, kh, kw, "diverging");
      c.style.width = `${kw * 10}px`;
      c.style.height = `${kh * 10}px`;
      box.append(c);
    }
    box.append(legend(s.filters, sig, t("app_train_filter_legend", { layer: s.filters.layer })));
  }
  const maps = $("train-maps");
  maps.replaceChildren();
  const first = s.layers.find((v) => v.kind === "maps");
  if (first) {
    const [h, w, c] = first.shape;
    const data = bytes(first.data);
    for (let ch = 0; ch < c; ch++) {
      const cv = el("canvas", { "data-testid": "train-map" });
      paint(cv, data, ch * h * w, h, w, first.scale);
      cv.style.width = `${w * 2}px`;
      cv.style.height = `${h * 2}px`;
      maps.append(cv);
    }
  }
  const best = s.probabilities.indexOf(Math.max(...s.probabilities));
  $("train-sample").textContent = t("app_train_sample", { cls: best, percent: percent(s.probabilities[best]) });
  $("train-sample").dataset.version = s.version;
}
