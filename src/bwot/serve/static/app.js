// bwot serve: draw (mouse, pen, touch: pointer events), undo, clear, upload or pick a test sketch; the
// nearest models are fetched from this server as you draw (debounced). Vanilla JS, no build step, no
// request to any other host.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const statusLine = document.getElementById("status");
const resultsList = document.getElementById("results");
const resultsTitle = document.getElementById("results-title");
const kInput = document.getElementById("k");
const testSelect = document.getElementById("tests");
const seen = document.getElementById("seen");
const seenImg = document.getElementById("seen-img");

const STROKE = 5; // canvas pixels (the canvas is 480 wide)
const DEBOUNCE_MS = 250;

let strokes = []; // [{points: [[x, y], ...]}]
let current = null; // the stroke being drawn
let background = null; // {image, kind: "test" | "upload", id, blob, name}
let timer = null;
let sequence = 0; // answers to older requests are dropped
let inflight = null; // AbortController of the running request

// The page's state on <body data-search="idle|waiting|searching">: "idle" once the last search has
// answered (or failed) and none is scheduled; what a test of the page waits for.
function searchState(state) {
  document.body.dataset.search = state;
}

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (background) {
    const img = background.image;
    const scale = Math.min(canvas.width / img.width, canvas.height / img.height);
    const w = img.width * scale, h = img.height * scale;
    ctx.drawImage(img, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  }
  ctx.strokeStyle = "#000";
  ctx.lineWidth = STROKE;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const stroke of strokes) drawStroke(stroke);
}

function drawStroke(stroke) {
  const p = stroke.points;
  ctx.beginPath();
  ctx.moveTo(p[0][0], p[0][1]);
  if (p.length === 1) ctx.lineTo(p[0][0] + 0.01, p[0][1]); // a dot
  for (let i = 1; i < p.length; i++) ctx.lineTo(p[i][0], p[i][1]);
  ctx.stroke();
}

function position(event) {
  const rect = canvas.getBoundingClientRect();
  return [
    ((event.clientX - rect.left) * canvas.width) / rect.width,
    ((event.clientY - rect.top) * canvas.height) / rect.height,
  ];
}

canvas.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  current = { points: [position(event)] };
  strokes.push(current);
  redraw();
});

canvas.addEventListener("pointermove", (event) => {
  if (!current) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) current.points.push(position(e));
  redraw();
  schedule(); // refresh while drawing, at most every DEBOUNCE_MS of calm
});

function endStroke(event) {
  if (!current) return;
  event.preventDefault();
  current = null;
  schedule();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

function undo() {
  if (strokes.length) strokes.pop();
  else background = null;
  redraw();
  schedule();
}

function clearAll() {
  strokes = [];
  background = null;
  testSelect.value = "";
  redraw();
  cancel();
  resultsList.replaceChildren();
  resultsTitle.textContent = "Nearest models";
  seen.hidden = true;
  setStatus("Draw a sketch: the nearest models appear as you draw.");
}

document.getElementById("undo").addEventListener("click", undo);
document.getElementById("clear").addEventListener("click", clearAll);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") {
    event.preventDefault();
    undo();
  }
});
kInput.addEventListener("change", () => schedule(0));

document.getElementById("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  strokes = [];
  testSelect.value = "";
  try {
    background = { image: await loadImage(URL.createObjectURL(file)), kind: "upload", blob: file, name: file.name };
  } catch {
    background = null; // not an image the browser can show: the server says why
    cancel();
    search({ blob: file, name: file.name });
    return;
  }
  redraw();
  schedule(0);
});

testSelect.addEventListener("change", () => pickTest(testSelect.value));
document.getElementById("random").addEventListener("click", () => {
  const options = testSelect.options;
  if (options.length < 2) return;
  testSelect.selectedIndex = 1 + Math.floor(Math.random() * (options.length - 1));
  pickTest(testSelect.value);
});

async function pickTest(id) {
  if (!id) return;
  strokes = [];
  background = { image: await loadImage(`/api/tests/${encodeURIComponent(id)}.png`), kind: "test", id };
  redraw();
  schedule(0);
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot show ${src}`));
    img.src = src;
  });
}

function cancel() {
  clearTimeout(timer);
  timer = null;
  if (inflight) inflight.abort();
  inflight = null;
  searchState("idle");
}

function schedule(delay = DEBOUNCE_MS) {
  clearTimeout(timer);
  searchState("waiting");
  timer = setTimeout(() => {
    timer = null;
    search();
  }, delay);
}

function settled(mine) {
  if (mine === sequence && !timer) searchState("idle");
}

// What to ask: a test sketch or an uploaded file as they are (the exact query), else the canvas as PNG.
async function request() {
  if (!strokes.length && background && background.kind === "test") {
    return { url: `/api/search/test/${encodeURIComponent(background.id)}`, body: null, name: background.id };
  }
  if (!strokes.length && background && background.kind === "upload") {
    return { url: "/api/search", body: background.blob, name: background.name };
  }
  if (!strokes.length) return null;
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  return { url: "/api/search", body: blob, name: "the drawing" };
}

async function search(direct = null) {
  const ask = direct ? { url: "/api/search", body: direct.blob, name: direct.name } : await request();
  if (!ask) {
    resultsList.replaceChildren();
    seen.hidden = true;
    setStatus("Draw a sketch: the nearest models appear as you draw.");
    settled(++sequence);
    return;
  }
  if (inflight) inflight.abort();
  inflight = new AbortController();
  const mine = ++sequence;
  searchState("searching");
  setStatus("Searching…");
  const k = Math.max(1, Math.min(100, parseInt(kInput.value, 10) || 10));
  try {
    const response = await fetch(`${ask.url}?k=${k}`, {
      method: "POST",
      body: ask.body,
      headers: { "X-Sketch-Name": encodeURIComponent(ask.name).slice(0, 200) },
      signal: inflight.signal,
    });
    const answer = await response.json();
    if (mine !== sequence) return;
    if (!response.ok) throw new Error(answer.detail || response.statusText);
    show(answer);
  } catch (error) {
    if (error.name === "AbortError" || mine !== sequence) return;
    setStatus(error.message, true);
  } finally {
    settled(mine);
  }
}

function show(answer) {
  const hits = answer.results;
  const items = hits.map((hit) => {
    const li = document.createElement("li");
    li.className = "hit" + (hit.correct === true ? " good" : hit.correct === false ? " bad" : "");
    li.dataset.rank = hit.rank;
    li.dataset.id = hit.id;
    const img = document.createElement("img");
    img.src = hit.thumbnail;
    img.alt = `model ${hit.id} (${hit.class})`;
    const cls = document.createElement("div");
    cls.className = "hit-class";
    cls.textContent = hit.class;
    const meta = document.createElement("div");
    meta.className = "hit-meta";
    meta.textContent = `#${hit.rank} · ${hit.id} · ${hit.distance.toFixed(3)}`;
    li.append(img, cls, meta);
    return li;
  });
  resultsList.replaceChildren(...items);
  let title = `Nearest ${hits.length} models`;
  if (answer.class) {
    const right = hits.filter((hit) => hit.correct).length;
    title += ` of test sketch ${answer.query} (${answer.class}): ${right} of ${hits.length} of its class`;
  }
  resultsTitle.textContent = title;
  seenImg.src = answer.sketch;
  seen.hidden = false;
  setStatus(`${hits.length} models, nearest first.`);
}

async function start() {
  redraw();
  try {
    const info = await (await fetch("/api/info")).json();
    kInput.value = info.k;
    kInput.max = info.max_k;
    const skipped = info.targets_skipped ? `, ${info.targets_skipped} skipped upstream` : "";
    document.getElementById("info").textContent =
      `${info.run}, loss ${info.loss}: ${info.targets} target models in ${info.classes} classes${skipped}; ` +
      `${info.distance} distance, ${info.backend} search.`;
    const tests = await (await fetch("/api/tests")).json();
    tests.sort((a, b) => a.class.localeCompare(b.class) || a.id.localeCompare(b.id, undefined, { numeric: true }));
    for (const test of tests) testSelect.add(new Option(`${test.class} — ${test.id}`, test.id));
    searchState("idle");
    document.body.dataset.ready = "true";
  } catch (error) {
    setStatus(`Cannot reach the server: ${error.message}`, true);
  }
}

start();
