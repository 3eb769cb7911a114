// facegen studio: plain JavaScript over the /v1 API, no build step, nothing from the internet.
// A face here is what the API returns ({seed, truncation, w, z, label, image}) plus a blob URL of
// the server's image bytes, so what is shown and downloaded carries the recipe the server embedded.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  info: null, gallery: [], kept: [], current: null, base: null, edited: null,
  frames: [], frame: 0, timer: null, seq: 0, editSeq: 0, editTimer: null,
  history: [], committed: {}, // edits made to the current face: what to undo to, and the sliders' last settled values
};
const FPS = 12;

// ---- talking to the server ------------------------------------------------------------------

async function api(path, body, asBlob = false) {
  const options = body instanceof FormData ? { method: "POST", body }
    : body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }
    : {};
  const response = await fetch(path, options);
  if (response.ok && asBlob) return response.blob();
  let data = null;
  try { data = await response.json(); } catch (e) { /* not JSON: reported below */ }
  if (!response.ok) {
    const wait = response.headers.get("Retry-After");
    const message = (data && data.error) || `the server answered ${response.status}`;
    throw new Error(wait ? `${message} (retry in ${wait} s)` : message);
  }
  return data;
}

function dataUrlToBlobUrl(dataUrl) {
  const [head, b64] = dataUrl.split(",");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return URL.createObjectURL(new Blob([bytes], { type: head.slice(5).split(";")[0] }));
}

function adopt(face, name) {
  face.url = dataUrlToBlobUrl(face.image);
  delete face.image; // the blob holds the bytes; no need for a second, base64 copy
  face.name = name || (face.seed !== null ? `seed${String(face.seed).padStart(6, "0")}.png` : "face.png");
  return face;
}

// What the API takes back: the latent when there is one (exact), else the seed; and the photo
// inversions the face descends from, which the server carries on and /v1/swap checks.
function ref(face) {
  return { seed: face.seed, truncation: face.truncation, w: face.w, z: face.z, inverted_from: face.inverted_from };
}

function release(faces) {
  for (const f of faces) {
    const inUse = state.kept.includes(f) || f === state.current || f === state.base || state.gallery.includes(f);
    if (!inUse && f.url) { URL.revokeObjectURL(f.url); f.url = null; }
  }
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function busy(label, work) {
  document.body.dataset.busy = label;
  try { return await work(); } catch (e) { say(e.message, true); } finally { delete document.body.dataset.busy; }
}

// ---- showing faces ------------------------------------------------------------------------------

// The big face at its native pixels times the largest whole number that fits 400 px (128 px: 3x, 64 px: 6x).
function faceScale(resolution) {
  return Math.max(1, Math.floor(400 / resolution));
}

function show(face, caption) {
  const img = $("current");
  img.src = face.url;
  img.alt = face.label;
  img.dataset.seed = face.seed === null ? "" : String(face.seed);
  $("caption").textContent = caption || face.label;
  $("download").href = face.url;
  $("download").download = face.name;
}

function setCurrent(face) {
  stopMorph();
  const old = [state.current, state.edited].filter(Boolean);
  state.current = face; state.base = face; state.edited = null;
  setSliders({});
  state.history = []; state.committed = {};
  renderHistory();
  show(face);
  release(old);
}

function renderFaces(list, faces, onPick, onRemove) {
  list.replaceChildren(...faces.map((face) => {
    const item = document.createElement("li");
    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "face";
    pick.setAttribute("aria-pressed", String(state.kept.includes(face)));
    pick.title = `${face.label}: click to keep or let go`;
    const img = document.createElement("img");
    img.src = face.url; img.alt = face.label; img.width = 96; img.height = 96;
    pick.append(img);
    pick.addEventListener("click", () => onPick(face));
    const save = document.createElement("a");
    save.href = face.url; save.download = face.name; save.textContent = "\u2913";
    save.title = `download ${face.name}`; save.className = "save";
    item.append(pick, save);
    if (onRemove) {
      const drop = document.createElement("button");
      drop.type = "button"; drop.className = "drop"; drop.textContent = "\u00d7";
      drop.title = `let go of ${face.label}`; drop.setAttribute("aria-label", drop.title);
      drop.addEventListener("click", () => onRemove(face));
      item.append(drop);
    }
    return item;
  }));
}

function renderAll() {
  renderFaces($("gallery"), state.gallery, (face) => { toggleKeep(face); setCurrent(face); });
  renderFaces($("kept"), state.kept, (face) => setCurrent(face), (face) => { toggleKeep(face); release([face]); });
  const n = state.kept.length;
  $("kept-count").textContent = n ? `(${n}: click one to show it)` : "(none yet: click a face to keep it)";
  $("breed").disabled = n < 2;
  $("morph").disabled = n < 2;
}

function toggleKeep(face) {
  const i = state.kept.indexOf(face);
  if (i >= 0) state.kept.splice(i, 1); else state.kept.push(face);
  renderAll();
}

// ---- making faces -------------------------------------------------------------------------------

async function generate() {
  const seq = ++state.seq;
  const seed = Math.max(0, Math.floor(Number($("seed").value) || 0));
  const n = Number($("count").value);
  const truncation = Number($("truncation").value);
  const started = performance.now();
  await busy("generate", async () => {
    const data = await api("/v1/generate", { seed, n, truncation });
    if (seq !== state.seq) return; // a newer request has been sent; this answer is stale
    const old = state.gallery;
    state.gallery = data.faces.map((f) => adopt(f));
    setCurrent(state.gallery[0]);
    renderAll();
    release(old);
    const ms = Math.round(performance.now() - started);
    say(`seeds ${seed}${n > 1 ? `\u2013${seed + n - 1}` : ""} in ${ms} ms`);
  });
}

async function breed() {
  if (state.kept.length < 2) return say("keep two faces or more to breed them", true);
  const parents = state.kept.slice(0, 8);
  const seed = Math.floor(Math.random() * 2 ** 31);
  await busy("breed", async () => {
    const data = await api("/v1/breed", { parents: parents.map(ref), children: 4, seed,
      mutation: Number($("mutation").value) || 0 });
    const old = state.gallery;
    state.gallery = data.faces.map((f, i) => adopt(f, `child-${seed}-${i + 1}.png`));
    setCurrent(state.gallery[0]);
    renderAll();
    release(old);
    say(`4 children of ${parents.length} kept faces: click one to keep it`);
  });
}

async function morph() {
  if (state.kept.length < 2) return say("keep two faces or more to morph between them", true);
  const limits = state.info.limits;
  const frames = Math.min(limits.max_frames, Math.max(2, Math.floor(Number($("frames").value) || 24)));
  await busy("morph", async () => {
    const data = await api("/v1/morph", { faces: state.kept.slice(0, limits.max_keys).map(ref), frames, loop: true });
    stopMorph();
    release(state.frames);
    state.frames = data.frames.map((f, i) => adopt(f, `morph-frame${String(i + 1).padStart(3, "0")}.png`));
    $("frame").max = String(state.frames.length - 1);
    $("player").hidden = false;
    playMorph();
    say(`a ${frames}-frame loop through ${Math.min(state.kept.length, limits.max_keys)} kept faces`);
  });
}

function showFrame(i) {
  state.frame = (i + state.frames.length) % state.frames.length;
  $("frame").value = String(state.frame);
  state.current = state.frames[state.frame]; // so that Keep keeps the frame on show
  show(state.frames[state.frame], `morph frame ${state.frame + 1} of ${state.frames.length}`);
}

function playMorph() {
  clearInterval(state.timer);
  state.timer = setInterval(() => showFrame(state.frame + 1), 1000 / FPS);
  $("play").textContent = "Pause";
}

function stopMorph() {
  clearInterval(state.timer);
  state.timer = null;
  $("play").textContent = "Play";
}

// ---- editing ------------------------------------------------------------------------------------

// Amounts are standard deviations of random faces along the direction; the words say how far that is.
function amountText(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  const size = a <= 0.5 ? "a touch" : a <= 1.5 ? "some" : a <= 2.5 ? "a lot" : "extreme";
  return `${v > 0 ? "+" : "\u2212"}${a} \u00b7 ${size} ${v > 0 ? "more" : "less"}`;
}

function showValue(input) {
  input.nextElementSibling.textContent = amountText(Number(input.value));
}

function sliders() { return [...document.querySelectorAll("#edits input[type=range]")]; }

function sliderValues() {
  const out = {};
  for (const i of sliders()) if (Number(i.value) !== 0) out[i.dataset.direction] = Number(i.value);
  return out;
}

function setSliders(values) {
  for (const i of sliders()) { i.value = values[i.dataset.direction] || 0; showValue(i); }
}

function addSlider(box, d, text, range) {
  const label = document.createElement("label");
  const name = document.createElement("span");
  name.textContent = text;
  if (d.layers) name.title = `moves the ${d.layers} layers`;
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min: -range, max: range, step: 0.5, value: 0 });
  input.dataset.direction = String(d.index);
  input.dataset.name = text;
  input.setAttribute("aria-label", text);
  const out = document.createElement("output");
  label.append(name, input, out);
  box.append(label);
  showValue(input);
  input.addEventListener("input", () => { showValue(input); clearTimeout(state.editTimer);
    state.editTimer = setTimeout(edit, 60); });
  input.addEventListener("change", () => commit(`${text} ${amountText(Number(input.value))}`));
}

function buildSliders(directions) {
  if (!directions || !directions.items.length) return;
  const named = directions.named || [];
  for (const d of named) addSlider($("named-sliders"), d, d.name, 3);
  const namedIndex = new Set(named.map((d) => d.index));
  const others = directions.items.filter((d) => !namedIndex.has(d.index)).slice(0, 6);
  for (const d of others) addSlider($("sliders"), d, d.name || `direction ${d.index}`, 4);
  $("more-directions").hidden = !others.length;
  $("more-directions").open = !named.length;
  $("surprise").hidden = named.length < 2;
  $("edits").hidden = false;
}

// ---- edit history: each settled change can be undone ------------------------------------------------

function commit(label) {
  const now = sliderValues();
  if (JSON.stringify(now) === JSON.stringify(state.committed)) return;
  state.history.push({ label, before: state.committed });
  state.committed = now;
  renderHistory();
}

function undo() {
  const last = state.history.pop();
  if (!last) return;
  setSliders(last.before);
  state.committed = last.before;
  renderHistory();
  say(`undone: ${last.label}`);
  edit();
}

function renderHistory() {
  $("history").replaceChildren(...state.history.map((h) => {
    const item = document.createElement("li");
    item.textContent = h.label;
    return item;
  }));
  $("undo").disabled = !state.history.length;
}

function surprise() {
  const named = [...document.querySelectorAll("#named-sliders input")];
  if (!named.length) return;
  const picks = named.map((i) => [Math.random(), i]).sort((a, b) => a[0] - b[0]).slice(0, Math.min(3, named.length));
  const values = {};
  const parts = [];
  for (const [, input] of picks) {
    const amount = (Math.random() < 0.5 ? -1 : 1) * (1 + Math.floor(Math.random() * 4) / 2); // ±1 to ±2.5
    values[input.dataset.direction] = amount;
    parts.push(`${input.dataset.name} ${amount > 0 ? "+" : "\u2212"}${Math.abs(amount)}`);
  }
  setSliders(values);
  commit(`surprise: ${parts.join(", ")}`);
  edit();
}

async function edit() {
  if (!state.base) return;
  const edits = sliders()
    .filter((i) => Number(i.value) !== 0)
    .map((i) => ({ direction: i.dataset.direction, strength: Number(i.value) }));
  const seq = ++state.editSeq;
  if (!edits.length) { show(state.base); state.current = state.base; return; }
  await busy("edit", async () => {
    const data = await api("/v1/edit", { face: ref(state.base), edits });
    if (seq !== state.editSeq) return;
    const old = state.edited;
    state.edited = adopt(data.face, `edited-${state.base.name}`);
    state.current = state.edited;
    show(state.edited);
    if (old) release([old]);
  });
}

// ---- opening a facegen image ----------------------------------------------------------------------

async function upload(file) {
  const form = new FormData();
  form.append("file", file);
  await busy("upload", async () => {
    const data = await api("/v1/faces/from-image", form);
    const face = adopt(data.face, file.name);
    state.kept.push(face);
    setCurrent(face);
    renderAll();
    say(`opened ${file.name}: kept`);
  });
}

// ---- photos: invert into faces, swap the current face in ------------------------------------------

async function invertPhoto(file) {
  const form = new FormData();
  form.append("file", file);
  const stem = file.name.replace(/\.[^.]*$/, "");
  const started = performance.now();
  say(`inverting the faces in ${file.name}\u2026 (a few seconds a face)`);
  await busy("invert", async () => {
    const data = await api("/v1/invert", form);
    const faces = data.faces.map((f) => adopt(f.face, `${stem}-face${f.index}.png`));
    state.kept.push(...faces);
    setCurrent(faces[0]);
    renderAll();
    const s = ((performance.now() - started) / 1000).toFixed(1);
    const scores = data.faces.map((f) => `${f.psnr.toFixed(1)} dB`).join(", ");
    say(`${faces.length} face${faces.length > 1 ? "s" : ""} from ${file.name} in ${s} s (${scores}): kept. ` +
        `${data.notes.join(" ")}`.trim());
  });
}

async function swapInto(file) {
  if (!state.current) return say("make or keep a face first", true);
  const form = new FormData();
  form.append("file", file);
  form.append("faces", JSON.stringify([ref(state.current)]));
  await busy("swap", async () => {
    const blob = await api("/v1/swap", form, true);
    const old = $("swapped").src;
    $("swapped").src = URL.createObjectURL(blob);
    $("swap-download").href = $("swapped").src;
    $("swap-download").download = `${file.name.replace(/\.[^.]*$/, "")}-swapped.png`;
    $("swap-result").hidden = false;
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    say(`${state.current.label} swapped into ${file.name} (labelled as a composite)`);
  });
}

// ---- wiring -------------------------------------------------------------------------------------

function nudgeSeed(delta) {
  $("seed").value = String(Math.max(0, (Math.floor(Number($("seed").value)) || 0) + delta));
  generate();
}

function wire() {
  $("make").addEventListener("submit", (e) => { e.preventDefault(); generate(); });
  $("seed").addEventListener("input", generate);
  $("count").addEventListener("change", generate);
  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
    generate();
  });
  $("dice").addEventListener("click", () => { $("seed").value = String(Math.floor(Math.random() * 2 ** 31)); generate(); });
  $("keep").addEventListener("click", () => {
    if (state.current && !state.kept.includes(state.current)) { state.kept.push(state.current); renderAll(); }
  });
  $("breed").addEventListener("click", breed);
  $("morph").addEventListener("click", morph);
  $("play").addEventListener("click", () => (state.timer ? stopMorph() : playMorph()));
  $("frame").addEventListener("input", () => { stopMorph(); showFrame(Number($("frame").value)); });
  $("reset-edits").addEventListener("click", () => { if (!state.base) return; setSliders({}); commit("reset"); edit(); });
  $("surprise").addEventListener("click", surprise);
  $("undo").addEventListener("click", undo);
  $("upload").addEventListener("change", (e) => e.target.files[0] && upload(e.target.files[0]));
  // Cleared after each pick, so that choosing the same photo again (another face, another try) works.
  $("invert-file").addEventListener("change", (e) => { const f = e.target.files[0]; e.target.value = "";
    if (f) invertPhoto(f); });
  $("swap-file").addEventListener("change", (e) => { const f = e.target.files[0]; e.target.value = "";
    if (f) swapInto(f); });
  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest("input, select, textarea") && e.target.type !== "range";
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      ArrowRight: () => nudgeSeed(1), ArrowLeft: () => nudgeSeed(-1), r: () => $("dice").click(),
      k: () => $("keep").click(), b: breed, m: morph, s: () => $("download").click(),
      p: () => !$("player").hidden && $("play").click(),
      e: () => !$("surprise").hidden && surprise(), u: undo,
    };
    if (e.target.type === "range" && e.key.startsWith("Arrow")) return; // the slider's own keys
    if (actions[e.key]) { e.preventDefault(); actions[e.key](); }
  });
}

async function start() {
  wire();
  try {
    state.info = await api("/v1/model");
  } catch (e) {
    return say(`cannot reach the facegen server: ${e.message}`, true);
  }
  const m = state.info.model;
  $("model").textContent = `${m.name} \u00b7 ${m.architecture} \u00b7 ${m.resolution}\u00d7${m.resolution}`;
  $("current").style.setProperty("--face-px", `${faceScale(m.resolution) * m.resolution}px`);
  $("frames").max = String(state.info.limits.max_frames);
  buildSliders(state.info.directions);
  await generate();
}

start();
