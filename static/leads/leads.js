/* Galleries and gallery searches: the browser import with its progress and per-file outcomes,
   the gallery's face progress, and a search page that updates when its worker finishes. */
"use strict";

function csrfToken(form) {
  return form.querySelector("input[name=csrfmiddlewaretoken]").value;
}

/* Import: files go up FILES_PER_REQUEST at a time (a zip on its own), each request one batch. */
document.querySelectorAll("[data-gallery-import]").forEach((form) => {
  const bar = form.querySelector("[data-import-progress]");
  const summary = form.querySelector("[data-import-summary]");
  const list = form.querySelector("[data-import-outcomes]");
  const photos = form.querySelector("input[name=photos]");
  const archive = form.querySelector("input[name=archive]");
  const perRequest = Number(form.dataset.filesPerRequest) || 20;
  let dropped = [];

  form.addEventListener("dragover", (event) => { event.preventDefault(); form.classList.add("dragging"); });
  form.addEventListener("dragleave", () => form.classList.remove("dragging"));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("dragging");
    dropped = Array.from(event.dataTransfer.files);
    summary.textContent = `${dropped.length} file(s) ready to import.`;
  });

  function show(outcome) {
    const item = document.createElement("li");
    item.className = `outcome-${outcome.outcome}`;
    item.textContent = `${outcome.filename}: ${outcome.outcome}${outcome.message ? ` (${outcome.message})` : ""}`;
    list.appendChild(item);
  }

  async function send(body) {
    body.append("csrfmiddlewaretoken", csrfToken(form));
    const response = await fetch(form.action, {
      method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" },
    });
    const answer = await response.json().catch(() => ({ message: `The server answered ${response.status}.` }));
    if (!response.ok) throw new Error(answer.message || `The server answered ${response.status}.`);
    return answer;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = dropped.length ? dropped : Array.from(photos.files);
    const zip = archive.files[0];
    const requests = [];
    for (let start = 0; start < files.length; start += perRequest) {
      const body = new FormData();
      files.slice(start, start + perRequest).forEach((file) => body.append("photos", file, file.name));
      requests.push({ body, count: Math.min(perRequest, files.length - start) });
    }
    if (zip) { const body = new FormData(); body.append("archive", zip, zip.name); requests.push({ body, count: 1 }); }
    if (!requests.length) { summary.textContent = "Choose photos or a zip file to import."; return; }
    const total = requests.reduce((sum, request) => sum + request.count, 0);
    const totals = { added: 0, duplicates: 0, refused: 0 };
    let done = 0;
    list.replaceChildren();
    bar.hidden = false; bar.max = total; bar.value = 0;
    for (const request of requests) {
      try {
        const answer = await send(request.body);
        answer.outcomes.forEach(show);
        ["added", "duplicates", "refused"].forEach((key) => { totals[key] += answer[key]; });
      } catch (error) {
        show({ filename: `${request.count} file(s)`, outcome: "not imported", message: error.message });
      }
      done += request.count;
      bar.value = done;
      summary.textContent = `${done} of ${total} sent: ${totals.added} added, ${totals.duplicates} duplicates, ${totals.refused} refused.`;
    }
    dropped = [];
    photos.value = ""; archive.value = "";
    document.querySelectorAll("[data-gallery-progress]").forEach(pollProgress);
  });
});

/* The gallery's faces: poll the counts while photos are waiting for a worker. */
function pollProgress(section) {
  if (section.dataset.pollingNow) return;
  section.dataset.pollingNow = "1";
  const bar = section.querySelector("[data-looked-at]");
  let delay = 1000;
  async function poll() {
    try {
      const response = await fetch(section.dataset.galleryProgress, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const counts = await response.json();
        section.querySelectorAll("[data-count]").forEach((span) => { span.textContent = counts[span.dataset.count]; });
        bar.max = Math.max(counts.total, 1); bar.value = counts.looked_at;
        bar.textContent = `${counts.looked_at} of ${counts.total}`;
        document.querySelectorAll("[data-gallery-size]").forEach((size) => { size.textContent = counts.total; });
        if (counts.waiting === 0) { delete section.dataset.pollingNow; return; }
      }
    } catch (error) { /* try again */ }
    delay = Math.min(delay * 1.5, 10000);
    setTimeout(poll, delay);
  }
  setTimeout(poll, 500);
}
document.querySelectorAll("[data-gallery-progress][data-polling]").forEach(pollProgress);

/* A search that is waiting or running: reload the page once its worker has finished. */
document.querySelectorAll("[data-search-poll]").forEach((box) => {
  let delay = 700;
  async function poll() {
    try {
      const response = await fetch(box.dataset.searchPoll, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok && (await response.json()).finished) { window.location.reload(); return; }
    } catch (error) { /* try again */ }
    delay = Math.min(delay * 1.5, 8000);
    setTimeout(poll, delay);
  }
  setTimeout(poll, delay);
});
