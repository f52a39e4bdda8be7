// The page: language, the opened model, tabs, and the views that follow the drawing.
import { getJSON, guarded, postBytes } from "./api.js";
import { initBackward, setBackwardModel, setBackwardVisible, update as updateBackward } from "./backward.js";
import { hideCell, initCell, refreshCell, showCell } from "./cell.js";
import { initDraw, redrawLabels, repredict, showPrediction } from "./draw.js";
import { browserLang, currentLang, onLangChange, setLang, t } from "./i18n.js";
import { LayerGraph, modelSummary } from "./layers.js";
import { compute as computePlayground, initPlayground } from "./playground.js";
import { on, state } from "./state.js";
import { initTrain, poll as pollTraining, redrawTrain } from "./train.js";

const $ = (id) => document.querySelector(`[data-testid=${id}]`);
let forward;
let tab = "layers";

function setModel(desc) {
  state.model = desc;
  $("no-model").hidden = Boolean(desc);
  $("model-status").textContent = desc ? t("app_model_open", { name: desc.source || desc.name }) : t("app_no_model_short");
  $("model-summary").textContent = modelSummary(desc);
  forward.setModel(desc);
  setBackwardModel(desc);
  hideCell();
  if (state.prediction) forward.setData(state.prediction.layers, state.prediction.input_view);
  repredict();
}

async function loadModel() {
  const data = await guarded(() => getJSON(`/api/model?lang=${currentLang()}`));
  if (data) setModel(data.model);
}

function showTab(name) {
  tab = name;
  for (const b of document.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.dataset.panel !== name;
  setBackwardVisible(name === "backward");
  if (name === "playground") computePlayground();
  if (name === "train") pollTraining();
  if (name === "layers") forward.drawEdges();
}

async function openFile(file) {
  if (!file) return;
  const data = new Uint8Array(await file.arrayBuffer());
  const r = await guarded(() => postBytes(`/api/model?lang=${currentLang()}&name=${encodeURIComponent(file.name)}`, data));
  if (r) setModel(r.model);
}

async function main() {
  initDraw();
  initCell();
  initBackward();
  initPlayground();
  initTrain();
  forward = new LayerGraph($("layer-graph"), "forward", (step, position) => showCell(step, position));
  on("prediction", ({ payload, final }) => {
    forward.setData(payload ? payload.layers : null, payload ? payload.input_view : null);
    if (final) { refreshCell(); updateBackward(false); }
  });
  on("model-opened", (desc) => { setModel(desc); showTab("layers"); });
  for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => setLang(b.dataset.lang));
  $("error-close").addEventListener("click", () => { $("error-banner").hidden = true; });
  $("open-model").addEventListener("change", (ev) => { openFile(ev.target.files[0]); ev.target.value = ""; });
  $("choose-train").addEventListener("click", () => { $("train-model").value = "guide"; showTab("train"); });
  onLangChange(async () => {
    redrawLabels();
    redrawTrain();
    await loadModel();
    if (tab === "playground") computePlayground();
    if (tab === "backward") updateBackward(true);
  });
  await setLang(browserLang());
  showTab("layers");
  showPrediction(null);
  pollTraining();
  document.body.dataset.ready = "true";
}

main();
