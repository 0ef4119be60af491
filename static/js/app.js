/* A few small behaviours on top of server-rendered pages. Every page works
   without them; they add previews, live progress and the comparison tools. */
"use strict";

function csrfToken(form) {
  const input = form.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

/* Upload: drag and drop, a preview, and the style the image suggests. */
function setUpUpload(form) {
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector("[data-dropzone]");
  const preview = form.querySelector("[data-preview]");
  const image = form.querySelector("[data-preview-image]");
  const caption = form.querySelector("[data-preview-caption]");
  const style = form.querySelector("select[name=style]");
  const suggestion = form.querySelector("[data-suggestion]");
  const warning = form.querySelector("[data-style-warning]");
  let chosenByHand = style.value !== "";
  let warnings = {};  // the server's words for each style other than the suggested one
  function warnIfOverridden() {
    const text = warnings[style.value] || "";
    warning.textContent = text;
    warning.hidden = text === "";
  }
  style.addEventListener("change", () => { chosenByHand = true; warnIfOverridden(); });

  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    }
  });

  const problem = form.querySelector("[data-upload-problem]");
  const submit = form.querySelector("[data-upload-submit]");
  function refuse(message) {
    problem.textContent = message;
    problem.hidden = false;
    preview.hidden = true;
    submit.disabled = true;
    suggestion.textContent = "";
  }

  input.addEventListener("change", async () => {
    const file = input.files[0];
    problem.hidden = true;
    submit.disabled = false;
    if (!file) { preview.hidden = true; return; }
    if (image.src) URL.revokeObjectURL(image.src);
    image.onerror = () => refuse(`${file.name} cannot be shown as an image. Choose a PNG, JPEG, WebP or TIFF file.`);
    image.src = URL.createObjectURL(file);
    caption.textContent = `${file.name} · ${(file.size / 1024).toFixed(0)} KB`;
    preview.hidden = false;
    suggestion.textContent = "Looking at the drawing to suggest its style…";
    warnings = {};
    warnIfOverridden();
    const body = new FormData();
    body.append("image", file);
    try {
      const response = await fetch(form.dataset.suggestUrl, {
        method: "POST", body, headers: { "X-CSRFToken": csrfToken(form) }, credentials: "same-origin",
      });
      const answer = await response.json();
      if (input.files[0] !== file) return;  // another file was chosen meanwhile
      if (!response.ok) { refuse(answer.message); return; }
      if (!chosenByHand) style.value = answer.style;
      suggestion.textContent = `Suggested from the image: ${answer.label}. Change it if the drawing is another style.`;
      warnings = answer.warnings || {};
      warnIfOverridden();
    } catch (error) {
      suggestion.textContent = "No suggestion could be made; choose the style yourself, or leave it to the server.";
    }
  });
}

/* Forms that change something: a release needs a reason of more than spaces (the
   browser's "required" takes spaces), and every such form sends once: its buttons wait
   while the request is in flight. Delegated, so cards the progress poll swaps in work too. */
document.addEventListener("submit", (event) => {
  const form = event.target;
  const reason = form.matches("[data-release]") ? form.querySelector("textarea[name=reason]") : null;
  if (reason && reason.value.trim() === "") {
    reason.setCustomValidity("Give a reason for releasing this composite.");
    reason.reportValidity();
    event.preventDefault();
    return;
  }
  if (event.defaultPrevented || form.method.toLowerCase() !== "post") return;
  const buttons = [...form.querySelectorAll("button[type=submit], button:not([type])")];
  // Disabled after the browser has taken the form's data, so a named button still sends its value.
  setTimeout(() => buttons.forEach((button) => { button.disabled = true; button.setAttribute("aria-busy", "true"); }));
});
document.addEventListener("input", (event) => {
  if (event.target.matches("[data-release] textarea[name=reason]")) event.target.setCustomValidity("");
});
window.addEventListener("pageshow", () => {
  document.querySelectorAll("button[aria-busy=true]").forEach((button) => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  });
});

/* A form whose answer may be a download (the press sheet) leaves the page where it is, so no
   pageshow comes to free its buttons: free them a few seconds after the request is sent. */
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("[data-download-form]") || event.defaultPrevented) return;
  setTimeout(() => form.querySelectorAll("button[aria-busy=true]").forEach((button) => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }), 3000);
});

/* Face crop: the box over the sketch, drawn with the pointer or typed in. */
function setUpCrop(section) {
  const stage = section.querySelector("[data-stage]");
  const overlay = section.querySelector("[data-box]");
  const preview = section.querySelector("[data-crop-preview]");
  const fields = ["left", "top", "right", "bottom"].map((side) => section.querySelector(`#id_box_${side}`));
  const adjusted = section.querySelector("#id_box_adjusted");
  const reset = section.querySelector("[data-box-reset]");
  const width = Number(section.dataset.width);
  const height = Number(section.dataset.height);
  let timer = null;

  function show(box) {
    const [left, top, right, bottom] = box;
    overlay.style.left = `${(100 * left) / width}%`;
    overlay.style.top = `${(100 * top) / height}%`;
    overlay.style.width = `${(100 * (right - left)) / width}%`;
    overlay.style.height = `${(100 * (bottom - top)) / height}%`;
  }

  /* The worker has looked for the face (the composites' poll tells): show what it found where the
     page said "Finding the face…", keeping a box the artist already drew. */
  section.faceKnown = (face) => {
    const looking = section.querySelector("[data-looking]");
    if (!looking) return;
    looking.remove();
    section.querySelector("[data-face-help]").innerHTML = face.help;
    section.querySelector("[data-crop-waiting]")?.remove();
    preview.hidden = false;
    if (face.found) section.querySelector("[data-box-confirm]")?.remove();
    const byHand = adjusted && adjusted.value === "True";
    const box = byHand ? fields.map((field) => Number(field.value)) : face.box;
    if (fields.some((field) => !field)) { show(box); preview.src = section.dataset.cropUrl; return; }
    use(box, byHand);
  };
  if (fields.some((field) => !field)) return;

  function use(box, byHand) {
    box.forEach((value, index) => { fields[index].value = Math.round(value); });
    adjusted.value = byHand ? "True" : "";
    show(box);
    clearTimeout(timer);
    if (section.querySelector("[data-looking]")) return;  // nothing to crop until the worker has looked
    // Unadjusted, the pipeline aligns the face itself: preview exactly that.
    const query = byHand ? `?box=${box.map(Math.round).join(",")}` : "";
    timer = setTimeout(() => { preview.src = section.dataset.cropUrl + query; }, 300);
  }

  function typed() {
    const box = fields.map((field) => Number(field.value));
    if (box[0] < box[2] && box[1] < box[3] && box[2] <= width && box[3] <= height) use(box, true);
  }
  fields.forEach((field) => field.addEventListener("change", typed));
  if (reset) reset.addEventListener("click", () => use(reset.dataset.detected.split(",").map(Number), false));

  function pixel(event) {
    const rect = stage.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
    const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
    return [(x * width) / rect.width, (y * height) / rect.height];
  }
  let start = null;
  let current = null;
  stage.addEventListener("pointerdown", (event) => {
    start = pixel(event);
    stage.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  stage.addEventListener("pointermove", (event) => {
    if (!start) return;
    const [x, y] = pixel(event);
    current = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)];
    show(current);
  });
  stage.addEventListener("pointerup", () => {
    if (current && current[2] - current[0] >= 16 && current[3] - current[1] >= 16) use(current, true);
    else typed();
    start = null;
    current = null;
  });
}

/* Composites: poll their status and swap in each card as it changes. */
function setUpPolling(grid) {
  const announce = document.querySelector("[data-poll-announce]");
  let delay = 1500;
  async function poll() {
    try {
      const response = await fetch(grid.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.statusText);
      const answer = await response.json();
      const empty = grid.querySelector("[data-empty]");
      if (empty && answer.composites.length) empty.remove();
      for (const composite of answer.composites) {
        const card = grid.querySelector(`[data-composite="${composite.id}"]`);
        if (card && card.dataset.status === composite.status) continue;
        const holder = document.createElement("div");
        holder.innerHTML = composite.html.trim();
        const fresh = holder.firstElementChild;
        if (card) card.replaceWith(fresh); else grid.append(fresh);
        if (card && announce) announce.textContent = `${fresh.querySelector("h3").textContent.trim()}: ${composite.status}.`;
      }
      delay = 1500;
      // The face was being looked for when the page was drawn: show it now that it is known.
      const crop = document.querySelector("[data-crop]");
      if (crop && crop.faceKnown && answer.face && !answer.face.looking) crop.faceKnown(answer.face);
      if (answer.outstanding === 0 && !document.querySelector("[data-looking]")) { grid.removeAttribute("data-polling"); return; }
    } catch (error) {
      delay = Math.min(delay * 2, 15000);
    }
    setTimeout(poll, delay);
  }
  setTimeout(poll, 500);
}

/* My work: poll the statuses of the page's items and swap in each one that changed. */
function setUpWorkPolling(list) {
  const announce = document.querySelector("[data-work-announce]");
  let delay = 3000;
  async function poll() {
    try {
      const response = await fetch(list.dataset.workPoll, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.statusText);
      const answer = await response.json();
      for (const item of answer.items) {
        const row = list.querySelector(`[data-work-item="${item.id}"]`);
        if (!row || row.dataset.status === item.status) continue;
        const holder = document.createElement("ol");
        holder.innerHTML = item.html.trim();
        const fresh = holder.firstElementChild;
        row.replaceWith(fresh);
        if (announce) announce.textContent = `${fresh.querySelector("h3 a").textContent.trim()}: ${item.status}.`;
      }
      delay = 3000;
      if (answer.outstanding === 0) { list.removeAttribute("data-polling"); return; }
    } catch (error) {
      delay = Math.min(delay * 2, 30000);
    }
    setTimeout(poll, delay);
  }
  setTimeout(poll, 1000);
}

/* Comparison: one zoom for every image, and an overlay slider between two. */
function setUpCompare(root) {
  const zoom = root.querySelector("[data-zoom]");
  const zoomValue = root.querySelector("[data-zoom-value]");
  zoom.addEventListener("input", () => {
    root.querySelectorAll("[data-zoom-target]").forEach((target) => target.style.setProperty("--zoom", zoom.value));
    zoomValue.textContent = `${zoom.value}×`;
  });

  const overlay = root.querySelector("[data-overlay]");
  if (!overlay) return;
  const layers = [...root.querySelectorAll("[data-layer]")];
  const under = root.querySelector("[data-overlay-under]");
  const over = root.querySelector("[data-overlay-over]");
  const slider = root.querySelector("[data-overlay-slider]");
  const base = root.querySelector("[data-overlay-base]");
  const top = root.querySelector("[data-overlay-top]");
  const reveal = root.querySelector("[data-overlay-reveal]");
  const divider = root.querySelector("[data-overlay-divider]");
  layers.forEach((layer, index) => {
    under.add(new Option(layer.dataset.layer, index, index === 0, index === 0));
    over.add(new Option(layer.dataset.layer, index, index === 1, index === 1));
  });
  function draw() {
    const first = layers[Number(under.value)];
    const second = layers[Number(over.value)];
    base.src = first.src;
    base.alt = first.alt;
    top.src = second.src;
    top.alt = second.alt;
    reveal.style.clipPath = `inset(0 ${100 - slider.value}% 0 0)`;
    divider.style.left = `${slider.value}%`;
    slider.setAttribute("aria-valuetext", `${slider.value}% of ${second.dataset.layer} over ${first.dataset.layer}`);
  }
  [under, over].forEach((select) => select.addEventListener("change", draw));
  slider.addEventListener("input", draw);
  draw();
}

document.querySelectorAll("[data-upload]").forEach(setUpUpload);
document.querySelectorAll("[data-crop]").forEach(setUpCrop);
document.querySelectorAll("[data-poll][data-polling]").forEach(setUpPolling);
document.querySelectorAll("[data-work-poll][data-polling]").forEach(setUpWorkPolling);
document.querySelectorAll("[data-compare]").forEach(setUpCompare);
/* The comparison while a worker describes the faces: look again in a moment (for up to a minute). */
if (document.querySelector("[data-refresh-while-waiting]")) {
  const tries = Number(sessionStorage.getItem("compare-tries") || 0);
  if (tries < 30) { sessionStorage.setItem("compare-tries", tries + 1); setTimeout(() => window.location.reload(), 2000); }
} else {
  sessionStorage.removeItem("compare-tries");
}

/* Colour hints (cases/views/hints.py): paint the colours a witness described over a copy of the
   sketch, undo, and save the copy as a revision of the sketch. Strokes are multiplied into the
   drawing at the chosen strength, as the colour model's training sketches were tinted: the lines
   stay as drawn and the paper takes the colour. A soft round brush, sized in percent of the
   sketch's width; the copy keeps the sketch's own pixel size, so its face box still fits. */
function setUpHints(details) {
  const form = details.querySelector("[data-hints-form]");
  const canvas = form.querySelector("[data-hints-canvas]");
  const context = canvas.getContext("2d");
  const loading = form.querySelector("[data-hints-loading]");
  const colour = form.querySelector("[data-hint-colour]");
  const colourLabel = form.querySelector("[data-colour-label]");
  const size = form.querySelector("[data-hint-size]");
  const sizeValue = form.querySelector("[data-size-value]");
  const strength = form.querySelector("[data-hint-strength]");
  const strengthValue = form.querySelector("[data-strength-value]");
  const status = form.querySelector("[data-hints-status]");
  const undo = form.querySelector("[data-hints-undo]");
  const clear = form.querySelector("[data-hints-clear]");
  const save = form.querySelector("[data-hints-save]");
  const problem = form.querySelector("[data-hints-error]");
  const palette = [...form.querySelectorAll("[data-palette]")];
  const brushes = [...form.querySelectorAll("input[name=brush]")];
  const painted = document.createElement("canvas");  // every finished stroke, multiplied onto white
  const scratch = document.createElement("canvas");  // one stroke, opaque, before it is softened
  const strokes = [];
  let current = null;
  let image = null;
  let frame = null;
  let saving = false;

  details.querySelector("[data-hints-nojs]").hidden = true;
  form.hidden = false;
  canvas.hidden = true;
  palette.forEach((button) => { button.style.background = button.dataset.palette; });

  function brush() { return brushes.find((input) => input.checked); }
  function showBrush() {
    const chosen = brush();
    colour.value = chosen.dataset.colour;
    colourLabel.textContent = `Colour of the ${chosen.value} brush`;
    palette.forEach((button) => button.setAttribute("aria-pressed", String(button.dataset.palette === colour.value)));
    brushes.forEach((input) => {
      input.closest("label").querySelector("[data-brush-swatch]").style.background = input.dataset.colour;
    });
  }
  function recolour(value) {
    brush().dataset.colour = value;
    showBrush();
  }
  brushes.forEach((input) => input.addEventListener("change", showBrush));
  colour.addEventListener("input", () => recolour(colour.value));
  palette.forEach((button) => button.addEventListener("click", () => recolour(button.dataset.palette)));
  size.addEventListener("input", () => { sizeValue.textContent = `${size.value}% of the sketch's width`; });
  strength.addEventListener("input", () => { strengthValue.textContent = `${strength.value}%`; });
  showBrush();

  /* One stroke: traced opaque on the scratch canvas, then blurred (the soft edge) and
     multiplied onto ``target`` at the stroke's strength. */
  function lay(stroke, target) {
    const scratchContext = scratch.getContext("2d");
    scratchContext.clearRect(0, 0, scratch.width, scratch.height);
    scratchContext.strokeStyle = stroke.colour;
    scratchContext.lineWidth = stroke.size;
    scratchContext.lineCap = "round";
    scratchContext.lineJoin = "round";
    scratchContext.beginPath();
    const [first, ...rest] = stroke.points;
    scratchContext.moveTo(first[0], first[1]);
    if (!rest.length) scratchContext.lineTo(first[0] + 0.1, first[1]);  // a dab
    rest.forEach(([x, y]) => scratchContext.lineTo(x, y));
    scratchContext.stroke();
    target.save();
    target.globalCompositeOperation = "multiply";
    target.globalAlpha = stroke.strength;
    target.filter = `blur(${Math.max(1, stroke.size / 5)}px)`;
    target.drawImage(scratch, 0, 0);
    target.restore();
  }
  function repaint() {
    const paintedContext = painted.getContext("2d");
    paintedContext.fillStyle = "#fff";
    paintedContext.fillRect(0, 0, painted.width, painted.height);
    strokes.forEach((stroke) => lay(stroke, paintedContext));
  }
  function render() {
    frame = null;
    context.save();
    context.globalCompositeOperation = "source-over";
    context.fillStyle = "#fff";  // a transparent sketch is on white paper, as the pipeline sees it
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    context.globalCompositeOperation = "multiply";
    context.drawImage(painted, 0, 0);
    context.restore();
    if (current) lay(current, context);
  }
  function later() { if (frame === null) frame = requestAnimationFrame(render); }
  function describe() {
    const parts = [...new Set(strokes.map((stroke) => stroke.brush))];
    status.textContent = strokes.length
      ? `${strokes.length} stroke${strokes.length === 1 ? "" : "s"} painted: ${parts.join(", ")}.`
      : "Nothing painted yet.";
    undo.disabled = clear.disabled = saving || !strokes.length;
    save.disabled = saving || !strokes.length;
  }

  function load() {
    if (image) return;
    image = new Image();
    image.addEventListener("load", () => {
      [canvas, painted, scratch].forEach((each) => { each.width = image.naturalWidth; each.height = image.naturalHeight; });
      repaint();
      render();
      loading.hidden = true;
      canvas.hidden = false;
      describe();
    });
    image.addEventListener("error", () => {
      loading.textContent = "This browser cannot show the sketch's file, so hints cannot be painted on it.";
    });
    image.src = details.dataset.imageUrl;
  }
  details.addEventListener("toggle", () => { if (details.open) load(); });
  if (details.open) load();

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return [((event.clientX - rect.left) * canvas.width) / rect.width, ((event.clientY - rect.top) * canvas.height) / rect.height];
  }
  canvas.addEventListener("pointerdown", (event) => {
    if (saving || event.button !== 0) return;
    canvas.setPointerCapture(event.pointerId);
    event.preventDefault();
    current = {
      brush: brush().value,
      colour: colour.value,
      size: Math.max(1, (Number(size.value) / 100) * canvas.width),
      strength: Number(strength.value) / 100,
      points: [point(event)],
    };
    later();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!current) return;
    const [x, y] = point(event);
    const [lastX, lastY] = current.points[current.points.length - 1];
    if (Math.hypot(x - lastX, y - lastY) >= 1) { current.points.push([x, y]); later(); }
  });
  function finish() {
    if (!current) return;
    strokes.push(current);
    lay(current, painted.getContext("2d"));
    current = null;
    later();
    describe();
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  undo.addEventListener("click", () => { strokes.pop(); repaint(); later(); describe(); });
  clear.addEventListener("click", () => { strokes.length = 0; repaint(); later(); describe(); });

  function fail(message) {
    saving = false;
    save.removeAttribute("aria-busy");
    problem.textContent = message;
    problem.hidden = false;
    describe();
  }
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted || !saving) return;  // back from the revision's page: the painting can be saved again
    saving = false;
    save.removeAttribute("aria-busy");
    describe();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();  // sent by fetch, with the painted copy; the page-wide handler stands aside
    if (saving || !strokes.length) return;
    saving = true;
    problem.hidden = true;
    save.setAttribute("aria-busy", "true");
    describe();
    if (frame !== null) { cancelAnimationFrame(frame); render(); }
    const body = new FormData();
    body.append("image", await new Promise((resolve) => canvas.toBlob(resolve, "image/png")), "colour-hints.png");
    new Set(strokes.map((stroke) => `${stroke.brush}:${stroke.colour}`)).forEach((hint) => body.append("hint", hint));
    body.append("note", form.querySelector("[data-hint-note]").value);
    try {
      const response = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" },
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok && answer.url) { window.location.assign(answer.url); return; }
      fail(answer.message || `The hints could not be saved (${response.status}). Reload the page and try again.`);
    } catch (error) {
      fail("The hints could not be saved: the server did not answer. Try again.");
    }
  });
}

document.querySelectorAll("[data-hints]").forEach(setUpHints);
