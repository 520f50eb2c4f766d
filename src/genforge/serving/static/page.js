// The page of `genforge serve`: asks /api/info what the shown version can do and shows
// only those controls: a sampler's grid, interpolation and inpainting, or a translation
// model's upload box. No libraries, no external requests.
"use strict";
const $ = (id) => document.getElementById(id);
let info = null;
let busy = 0;

function status(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function call(path, body) {
  busy += 1;
  document.body.dataset.busy = busy;
  try {
    const init = body === undefined ? {} :
      {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
    const response = await fetch(path, init);
    const data = await response.json();
    if (!response.ok) throw new Error(`${response.status}: ${data.message || JSON.stringify(data)}`);
    return data;
  } finally {
    busy -= 1;
    document.body.dataset.busy = busy;
  }
}

function version() { return $("version").value || null; }

function show(box, pngs, labels) {
  box.replaceChildren(...pngs.map((png, i) => {
    const img = document.createElement("img");
    img.src = "data:image/png;base64," + png;
    img.alt = labels && labels.length ? `class ${labels[i]}` : `image ${i}`;
    if (labels && labels.length) img.dataset.label = labels[i];
    return img;
  }));
}

function gridRequest() {
  const req = {n: Number($("count").value), seed: Number($("seed").value), version: version()};
  if (info.capabilities.conditional && $("label").value !== "") req.label = Number($("label").value);
  if (info.capabilities.truncation && Number($("truncation").value) < 3) req.truncation = Number($("truncation").value);
  if (info.capabilities.psi && Number($("psi").value) < 1) req.psi = Number($("psi").value);
  if (info.capabilities.steps && $("steps").value) req.steps = Number($("steps").value);
  return req;
}

async function generate() {
  const req = gridRequest();
  const params = new URLSearchParams(Object.entries(req).filter(([, v]) => v !== null));
  $("download").href = "/api/grid.png?" + params;
  try {
    const data = await call("/api/generate", req);
    show($("grid"), data.images, data.labels);
    status(`${data.images.length} images from ${data.family} v${data.version}`);
    document.body.dataset.generated = Number(document.body.dataset.generated || 0) + 1;
  } catch (e) { status(e.message, true); }
}

function interpRequest(extra) {
  const req = {seed_a: Number($("seed-a").value), seed_b: Number($("seed-b").value), version: version(), ...extra};
  if (info.capabilities.conditional && $("label").value !== "") req.label = Number($("label").value);
  return req;
}

async function strip() {
  try { show($("strip"), (await call("/api/interpolate", interpRequest({points: 8}))).images); }
  catch (e) { status(e.message, true); }
}

async function moveT() {
  try {
    const data = await call("/api/interpolate", interpRequest({t: Number($("interp-t").value)}));
    $("interp-big").src = "data:image/png;base64," + data.images[0];
    document.body.dataset.interpolated = Number(document.body.dataset.interpolated || 0) + 1;
  } catch (e) { status(e.message, true); }
}

async function inpaint() {
  try { show($("inpaint"), (await call("/api/inpaint", {index: Number($("inpaint-index").value), version: version()})).images); }
  catch (e) { status(e.message, true); }
}

function readAsBase64(file) {
  return new Promise((ok, fail) => {
    const reader = new FileReader();
    reader.onload = () => ok(reader.result.split(",", 2)[1]);
    reader.onerror = () => fail(new Error(`${file.name}: cannot be read`));
    reader.readAsDataURL(file);
  });
}

async function shrunkPng(file) {
  // a file too large for serve.max_body_bytes (or not a PNG) is redrawn as a PNG of at
  // most 4x the model's side; the server still crops, converts and resizes it
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    await new Promise((ok, fail) => {
      img.onload = ok;
      img.onerror = () => fail(new Error(`${file.name}: not an image this browser can read`));
      img.src = url;
    });
    const scale = Math.min(1, 4 * info.image_shape[1] / Math.max(img.naturalWidth, img.naturalHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
    canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/png").split(",", 2)[1];
  } finally { URL.revokeObjectURL(url); }
}

async function uploadBase64(file) {
  // a small PNG goes as it is, so the server's data layer sees the file's own pixels
  const fits = 4 * Math.ceil(file.size / 3) + 1024 < info.max_body_bytes;
  return file.type === "image/png" && fits ? readAsBase64(file) : shrunkPng(file);
}

async function translate() {
  const file = $("upload").files[0];
  if (!file) { status("choose an image file first", true); return; }
  try {
    const req = {image: await uploadBase64(file), direction: $("direction").value, version: version()};
    const data = await call("/api/translate", req);
    show($("translation"), data.images);
    const names = ["input (as the model sees it)", "translation", "translated back"];
    [...$("translation").children].forEach((img, i) => { img.alt = names[i]; img.title = names[i]; });
    $("translation-caption").textContent = `${data.label}: ${names.join(", ")}`;
    status(`${file.name} translated ${data.direction} by ${data.family} v${data.version}`);
    document.body.dataset.translated = Number(document.body.dataset.translated || 0) + 1;
  } catch (e) { status(e.message, true); }
}

function describeTranslation() {
  $("direction").replaceChildren(...Object.entries(info.directions).map(([value, text]) => new Option(text ? `${value}: ${text}` : value, value)));
  for (const box of ["generate-box", "interp-box", "inpaint-box"]) $(box).hidden = true;
  $("translate-box").hidden = false;
}

function describe() {
  const caps = info.capabilities;
  $("summary").textContent = `${info.family} v${info.version}, data ${(info.data_hash || "?").slice(0, 12)}, ` +
    `checkpoint ${info.checkpoint_sha256.slice(0, 12)}${info.checkpoint_verified ? " (verified)" : ""}, ` +
    `gate ${info.gate_forced ? "forced" : info.gate_passed ? "passed" : "failed"}, loaded ${info.loaded_at}`;
  $("metrics").replaceChildren(...Object.entries(info.metrics).map(([k, v]) => {
    const row = document.createElement("tr");
    row.innerHTML = `<th></th><td></td>`;
    row.children[0].textContent = k;
    row.children[1].textContent = typeof v === "number" ? v.toPrecision(4) : String(v);
    return row;
  }));
  if (info.kind === "translation") { describeTranslation(); return; }
  $("generate-box").hidden = false;
  $("translate-box").hidden = true;
  const labels = caps.conditional ? [["", "all (in turn)"], ...[...Array(caps.num_classes).keys()].map((k) => [k, String(k)])] : [["", "unconditional"]];
  $("label").replaceChildren(...labels.map(([value, text]) => new Option(text, value)));
  $("count").max = info.max_images;
  $("truncation-box").hidden = !caps.truncation;
  $("psi-box").hidden = !caps.psi;
  $("steps-box").hidden = !caps.steps;
  if (caps.steps) { $("steps").max = caps.steps.max; $("steps").placeholder = caps.steps.default; }
  $("interp-box").hidden = !caps.latent;
  $("inpaint-box").hidden = !caps.inpaint;
  if (caps.inpaint) $("inpaint-index").max = info.test_images - 1;
}

async function load() {
  try {
    info = await call("/api/info" + (version() ? `?version=${version()}` : ""));
    describe();
    status(`showing ${info.family} v${info.version}`);
    document.body.dataset.ready = info.version;
  } catch (e) { status(e.message, true); }
}

async function start() {
  try {
    const list = await call("/api/versions");
    $("version").replaceChildren(new Option(`champion (v${list.champion})`, ""),
      ...list.versions.map((v) => new Option(`v${v.version} ${v.family}${v.gate_passed ? "" : " (failed gate)"}`, v.version)));
  } catch (e) { status(e.message, true); }
  await load();
}

$("version").addEventListener("change", load);
$("generate").addEventListener("click", generate);
$("strip-button").addEventListener("click", strip);
$("interp-t").addEventListener("input", moveT);
$("inpaint-button").addEventListener("click", inpaint);
$("translate-button").addEventListener("click", translate);
$("truncation").addEventListener("input", () => {
  const v = Number($("truncation").value);
  $("truncation-value").textContent = v < 3 ? v.toFixed(1) : "off";
});
$("psi").addEventListener("input", () => {
  const v = Number($("psi").value);
  $("psi-value").textContent = v < 1 ? v.toFixed(1) : "1.0 (off)";
});
start();
