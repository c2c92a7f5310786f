/* Segment view: upload, re-run on parameter changes, show previews and components. */
"use strict";

(() => {
  const { $, status } = GM;
  const form = $("#controls"), results = $("#results");
  let job = GM.body.dataset.job || null;
  let latest = 0;          // number of the newest request, so a late answer to an older one is ignored
  let inflight = null;     // AbortController of the request in progress

  function params() {
    return { k: $("#k").value, features: $("#features").value, smoothing: $("#smoothing").value };
  }

  function setParams(p) {
    if (!p) return;
    $("#k").value = String(p.k);
    $("#features").value = p.features;
    $("#smoothing").value = p.smoothing;
    $("#smoothing-value").textContent = p.smoothing;
  }

  async function handle(answer, seq) {
    if (seq !== latest) return;
    let run = answer.data;
    if (answer.aborted) return;
    if (answer.code === 202) run = await GM.follow(run, (r) => status("busy", progressText(r)));
    if (seq !== latest) return;
    if (!run || (answer.code >= 400 && answer.code !== 422)) {
      status("error", GM.errorText(answer.code, answer.data));
      results.dataset.state = "error";
      return;
    }
    if (run.status !== "done") {
      if (run.error) status("error", run.error);
      results.dataset.state = "error";
      return;
    }
    job = run.job;
    GM.remember(run.page);
    await render(run);
  }

  function progressText(run) {
    return run.status === "queued" ? "Waiting for the server…" : "Segmenting… " + (run.message || "");
  }

  async function uploadFile(file) {
    const seq = ++latest;
    if (inflight) inflight.abort();
    const data = new FormData();
    data.append("image", file, file.name);
    const p = params();
    Object.keys(p).forEach((key) => data.append(key, p[key]));
    job = null;               // a new upload replaces the old one, even if it fails
    results.hidden = true;
    results.dataset.state = "busy";
    status("busy", "Uploading…");
    const answer = await GM.upload(form.action + "?wait=60", data, (f) => {
      status("busy", f < 1 ? "Uploading… " + Math.round(100 * f) + " %" : "Segmenting…");
    });
    await handle(answer, seq);
  }

  async function rerun() {
    if (!job) return;
    const seq = ++latest;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    results.dataset.state = "busy";
    status("busy", "Segmenting with K = " + $("#k").value + "…");
    const answer = await GM.request("POST", GM.api + "/segment/" + job + "/runs?wait=60", params(), inflight.signal);
    await handle(answer, seq);
  }

  function setImage(img, url, w, h) {
    // a tiny image is shown enlarged, its pixels kept square, rather than a few screen pixels wide
    const scale = Math.max(1, Math.floor(160 / Math.max(w, h)));
    img.width = w * scale;
    img.height = h * scale;
    img.style.imageRendering = scale > 1 ? "pixelated" : "";
    img.src = url;
  }

  async function render(run) {
    const r = run.result, info = run.info, pw = r.preview.width, ph = r.preview.height;
    setParams(run.params);
    results.hidden = false;
    const images = [$("#img-original"), $("#img-segmented"), $("#img-binary")];
    setImage(images[0], r.original, pw, ph);
    setImage(images[1], r.segmented, pw, ph);
    setImage(images[2], r.binary, pw, ph);
    $("#binary-note").textContent = "(black: component " + r.background_component + ", the background)";
    $("#summary-title").textContent = info.name + " · " + info.width + " × " + info.height;
    const t = r.timings;
    const distinct = Object.values(r.criterion || {}).some((row) => row.distinct);
    const how = !r.auto ? "" : distinct ? " (chosen: the largest K with distinct components)"
      : " (no K tried gave distinct components: the smallest tried)";
    $("#summary-text").textContent = "K = " + r.n_components + how + ", " +
      r.features_used + (run.params.smoothing > 0 ? ", smoothing " + run.params.smoothing : "") +
      " · segmented in " + GM.secs(t.segment) + " on the server";
    GM.showNotes(r);
    $("#zip").href = r.downloads["files.zip"];
    images.push(...renderComponents(r));
    renderCriterion(r.criterion, r.n_components);
    status("", "");
    await GM.imagesLoaded(images);
    results.dataset.run = String(run.run);
    results.dataset.state = "done";
  }

  function renderComponents(r) {
    const box = $("#components"), tpl = $("#component-card");
    box.textContent = "";
    const names = Object.keys(r.downloads);
    return r.components.map((c) => {
      const card = tpl.content.firstElementChild.cloneNode(true);
      const img = card.querySelector("img");
      setImage(img, c.mask, r.preview.width, r.preview.height);
      img.alt = "Mask of component " + c.label;
      card.querySelector(".swatch").style.background = c.colour;
      card.querySelector(".name").textContent = "Component " + c.label;
      card.querySelector(".tag").hidden = !c.background;
      const stats = card.querySelector(".stats");
      stats.textContent = "";
      for (const [label, value] of [["weight", c.weight], ["pixels", c.share]]) {
        const span = document.createElement("span");
        span.append(label + " ");
        const b = document.createElement("b");
        b.textContent = GM.pct(value);
        span.append(b);
        stats.append(span);
      }
      const link = card.querySelector("a");
      const name = names.find((n) => n.endsWith("_mask" + c.label + ".png"));
      link.href = r.downloads[name];
      link.setAttribute("download", name);
      card.dataset.label = String(c.label);
      box.appendChild(card);
      return img;
    });
  }

  function renderCriterion(criterion, chosen) {
    const box = $("#criterion");
    box.hidden = !criterion;
    if (!criterion) return;
    const tbody = box.querySelector("tbody");
    tbody.textContent = "";
    const fixed = (v, digits) => (v === null ? "–" : v.toFixed(digits));
    Object.keys(criterion).forEach((k) => {
      const c = criterion[k];
      const row = tbody.insertRow();
      row.insertCell().textContent = k + (Number(k) === chosen ? " ✓" : "");
      row.insertCell().textContent = fixed(c.overlap, 3);
      row.insertCell().textContent = c.min_share === null ? "–" : (100 * c.min_share).toFixed(1) + " %";
      row.insertCell().textContent = c.distinct ? "yes" : "no";
      row.insertCell().textContent = fixed(c.bic, 0);
    });
  }

  async function load() {
    status("busy", "Loading…");
    const answer = await GM.request("GET", GM.api + "/segment/" + job);
    if (answer.code !== 200) { status("error", GM.errorText(answer.code, answer.data)); return; }
    if (!answer.data.latest) { status("", ""); return; }
    setParams(answer.data.latest.params);
    await handle({ code: answer.data.latest.status === "done" ? 200 : 202, data: answer.data.latest }, ++latest);
  }

  GM.dropzone(uploadFile);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = $("#file").files[0];
    if (job) rerun(); else if (file) uploadFile(file); else status("error", "Choose an image first.");
  });
  ["k", "features", "smoothing"].forEach((id) => $("#" + id).addEventListener("change", rerun));
  $("#smoothing").addEventListener("input", () => { $("#smoothing-value").textContent = $("#smoothing").value; });
  const step = (d) => {
    const k = $("#k");
    const i = Math.min(k.options.length - 1, Math.max(1, k.selectedIndex + d));
    if (i !== k.selectedIndex) { k.selectedIndex = i; rerun(); }
  };
  $("#k-down").addEventListener("click", () => step(-1));
  $("#k-up").addEventListener("click", () => step(1));
  if (job) load();
})();
