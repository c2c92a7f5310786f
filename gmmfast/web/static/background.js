/* Background view: upload a short video, follow the run's progress, show the GIFs and the background. */
"use strict";

(() => {
  const { $, status } = GM;
  const form = $("#controls"), results = $("#results");
  let job = GM.body.dataset.job || null;
  const HELP = {
    recommended: "gmmfast's recommended pipeline: Gaussian mixtures per pixel tuned for real footage, which ignore shadows and compression noise and clean up the mask. Learns as the video plays, so it needs a few seconds of video: on a short clip whose objects move from the first frame, try Median.",
    mog2: "OpenCV's MOG2 with its default settings: shadows are marked grey in the mask. Learns as the video plays.",
    pixelgmm: "A Gaussian mixture per pixel fitted to the whole clip at once; pixels far from every background Gaussian are foreground.",
    median: "The per-pixel median of the clip is the background; pixels more than 30 grey levels from it are foreground.",
    mean: "The per-pixel mean of the clip is the background; pixels more than 30 grey levels from it are foreground.",
  };
  const showHelp = () => { $("#method-help").textContent = HELP[$("#method").value] || ""; };
  let seq = 0;

  function progress(run) {
    $("#progress-box").hidden = false;
    $("#progress").value = run.progress || 0;
    $("#progress-text").textContent = run.status === "queued" ? "starting…" :
      Math.round(100 * (run.progress || 0)) + " % · " + (run.message || "working");
  }

  async function handle(answer, mine) {
    let run = answer.data;
    if (answer.code === 202 || (run && (run.status === "queued" || run.status === "running"))) {
      status("", "");
      run = await GM.follow(run, (r) => { if (mine === seq) progress(r); });
    }
    if (mine !== seq) return;
    $("#progress-box").hidden = true;
    if (!run || run.status !== "done") {
      status("error", run && run.error ? run.error : GM.errorText(answer.code, answer.data));
      results.dataset.state = "error";
      return;
    }
    job = run.job;
    GM.remember(run.page);
    await render(run);
  }

  async function render(run) {
    const r = run.result;
    $("#method").value = run.params.method;
    showHelp();
    results.hidden = false;
    const images = [["#img-overlay", r.overlay], ["#img-foreground", r.foreground], ["#img-mask", r.mask],
                    ["#img-background", r.background]].map(([id, url]) => {
      const img = $(id);
      img.width = r.width;
      img.height = r.height;
      img.src = url;
      return img;
    });
    const truncated = r.truncated ? " (the first " + r.frames + (r.declared_frames ? " of " + r.declared_frames : "") +
      ": the server's limit on frames and megapixels of video)" : "";
    $("#summary-text").textContent = r.frames + " frames" + truncated + " of " + r.width + " × " + r.height + " at " +
      r.fps.toFixed(1) + " fps · foreground " + GM.pct(r.foreground_fraction) + " of the pixels · " +
      GM.secs(r.timings.model) + " in the model, " + GM.secs(r.timings.read + r.timings.model + r.timings.encode) + " in all";
    GM.showNotes(r);
    const box = $("#bg-downloads");
    box.textContent = "";
    Object.keys(r.downloads).forEach((name) => {
      const a = document.createElement("a");
      a.className = "button";
      a.href = r.downloads[name];
      a.setAttribute("download", name);
      a.textContent = name.slice(name.lastIndexOf("_") + 1);
      box.appendChild(a);
    });
    status("", "");
    await GM.imagesLoaded(images);
    results.dataset.run = String(run.run);
    results.dataset.state = "done";
  }

  async function uploadFile(file) {
    const mine = ++seq;
    const data = new FormData();
    data.append("video", file, file.name);
    data.append("method", $("#method").value);
    job = null;               // a new upload replaces the old one, even if it fails
    results.hidden = true;
    results.dataset.state = "busy";
    status("busy", "Uploading…");
    const answer = await GM.upload(form.action + "?wait=0", data, (f) => status("busy", "Uploading… " + Math.round(100 * f) + " %"));
    await handle(answer, mine);
  }

  async function rerun() {
    if (!job) return;
    const mine = ++seq;
    results.dataset.state = "busy";
    const answer = await GM.request("POST", GM.api + "/background/" + job + "/runs?wait=0", { method: $("#method").value });
    await handle(answer, mine);
  }

  async function load() {
    const answer = await GM.request("GET", GM.api + "/background/" + job);
    if (answer.code !== 200 || !answer.data.latest) { status("error", GM.errorText(answer.code, answer.data)); return; }
    await handle({ code: 200, data: answer.data.latest }, ++seq);
  }

  GM.dropzone(uploadFile);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = $("#file").files[0];
    if (job) rerun(); else if (file) uploadFile(file); else status("error", "Choose a video first.");
  });
  $("#method").addEventListener("change", () => { showHelp(); rerun(); });
  showHelp();
  if (job) load();
})();
