/* gmmfast web app: helpers shared by the three views (plain JavaScript, no libraries). */
"use strict";

const GM = (() => {
  const body = document.body;
  const api = body.dataset.api || "/api";
  const maxUploadBytes = parseFloat(body.dataset.maxUploadMb || "50") * 1024 * 1024;

  function $(sel, root) { return (root || document).querySelector(sel); }

  /* The status line under the controls: kind is "busy", "ok", "error" or "" (plain). */
  function status(kind, text) {
    const el = $("#status");
    if (!el) return;
    el.hidden = !text;
    el.className = "status" + (kind ? " " + kind : "");
    el.textContent = text || "";
  }

  function parseJSON(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  /* The message to show for an answer that is not a result. */
  function errorText(code, data) {
    if (data && data.error) return data.error;
    if (code === 413) return "The file is larger than this server accepts.";
    if (code === 503) return "The server is busy; please try again in a moment.";
    if (code === 0) return "The server cannot be reached.";
    return "The request failed (HTTP " + code + ").";
  }

  /* POST a FormData with upload progress (fetch cannot report it). Resolves to {code, data}. */
  function upload(url, form, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
      xhr.onload = () => resolve({ code: xhr.status, data: parseJSON(xhr.responseText) });
      xhr.onerror = () => resolve({ code: 0, data: null });
      xhr.send(form);
    });
  }

  /* JSON request; resolves to {code, data} (code 0 when the server cannot be reached or the call was aborted). */
  async function request(method, url, payload, signal) {
    const init = { method, headers: { "Accept": "application/json" }, signal };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    try {
      const response = await fetch(url, init);
      return { code: response.status, data: parseJSON(await response.text()) };
    } catch (e) {
      return { code: 0, data: null, aborted: e.name === "AbortError" };
    }
  }

  /* Follow a run until it has finished; onProgress(run) is called on every poll. Resolves to the last run. */
  async function follow(run, onProgress, signal) {
    while (run && (run.status === "queued" || run.status === "running")) {
      if (onProgress) onProgress(run);
      const answer = await request("GET", run.url + "?wait=1", undefined, signal);
      if (answer.code !== 200 || !answer.data) {
        return { status: "error", error: answer.aborted ? null : errorText(answer.code, answer.data) };
      }
      run = answer.data;
    }
    return run;
  }

  /* Wire a drop zone and its hidden file input; onFile(file) gets the chosen file. */
  function dropzone(onFile) {
    const zone = $("#drop"), input = $("#file");
    const pick = (file) => {
      if (!file) return;
      if (file.size > maxUploadBytes) {
        status("error", "This file is " + (file.size / 1048576).toFixed(1) + " MB; the server accepts at most " +
               (maxUploadBytes / 1048576).toFixed(0) + " MB.");
        return;
      }
      let name = zone.querySelector(".file-name");
      if (!name) { name = document.createElement("p"); name.className = "file-name"; zone.appendChild(name); }
      name.textContent = file.name;
      zone.classList.add("has-file");
      onFile(file);
    };
    zone.addEventListener("click", (e) => { if (e.target !== input) input.click(); });
    zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
    input.addEventListener("change", () => { pick(input.files[0]); });
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("dragging");
      if (e.dataTransfer.files.length) pick(e.dataTransfer.files[0]);
    });
    return { pick };
  }

  /* Resolves once every image has loaded (or failed), so "done" means the page shows the result. */
  function imagesLoaded(images) {
    return Promise.all(images.map((img) => img.complete && img.naturalWidth ? Promise.resolve() :
      new Promise((resolve) => { img.addEventListener("load", resolve, { once: true });
                                 img.addEventListener("error", resolve, { once: true }); })));
  }

  function pct(x, digits) { return (100 * x).toFixed(digits === undefined ? 1 : digits) + "\u00a0%"; }
  function secs(x) { return x < 1 ? Math.round(1000 * x) + " ms" : x.toFixed(2) + " s"; }

  /* What the server noted about a result (r.notes), in #summary-notes; hidden when there is none. */
  function showNotes(r) {
    const box = $("#summary-notes");
    box.textContent = (r.notes || []).join(" ");
    box.hidden = !(r.notes || []).length;
  }

  /* Put the job in the address bar, so a reload or a shared link comes back to it. */
  function remember(page) { if (page && location.pathname !== page) history.replaceState(null, "", page); }

  return { api, $, status, upload, request, follow, dropzone, imagesLoaded, errorText, pct, secs, showNotes, remember, body };
})();
