/* Cut out view: draw a box and brush strokes on a canvas, run GrabCut, show the cut-out. */
"use strict";

(() => {
  const { $, status } = GM;
  const form = $("#controls"), space = $("#workspace"), canvas = $("#canvas"), ctx = canvas.getContext("2d");
  const COLOURS = { fg: "rgba(34, 197, 94, 0.75)", bg: "rgba(239, 68, 68, 0.75)" };
  const S = {
    job: GM.body.dataset.job || null, info: null, picture: null, overlay: null,
    rect: null, strokes: [], tool: "box", drag: null, ranStrokes: 0, seq: 0,
  };

  /* canvas pixels <-> working-image pixels (the image GrabCut works on) */
  function scale() { return S.info.work_width / canvas.width; }
  function eventPoint(e) {
    const box = canvas.getBoundingClientRect();
    const x = (e.clientX - box.left) * canvas.width / box.width, y = (e.clientY - box.top) * canvas.height / box.height;
    return [Math.max(0, Math.min(canvas.width, x)), Math.max(0, Math.min(canvas.height, y))];
  }

  function draw() {
    if (!S.picture) return;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(S.picture, 0, 0, canvas.width, canvas.height);
    if (S.overlay) ctx.drawImage(S.overlay, 0, 0);
    const k = 1 / scale();
    const live = S.drag && S.drag.stroke ? [S.drag.stroke] : [];
    for (const s of S.strokes.concat(live)) {
      ctx.strokeStyle = ctx.fillStyle = COLOURS[s.label];
      ctx.lineWidth = 2 * s.radius * k;
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * k, y * k) : ctx.moveTo(x * k, y * k)));
      if (s.points.length === 1) ctx.lineTo(s.points[0][0] * k + 0.01, s.points[0][1] * k);
      ctx.stroke();
    }
    const r = S.drag && S.drag.rect ? S.drag.rect : (S.rect ? S.rect.map((v) => v * k) : null);
    if (r) {
      ctx.lineWidth = 2;
      ctx.setLineDash([]);
      ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
      ctx.strokeRect(r[0], r[1], r[2], r[3]);
      ctx.setLineDash([7, 5]);
      ctx.strokeStyle = "#ffffff";
      ctx.strokeRect(r[0], r[1], r[2], r[3]);
      ctx.setLineDash([]);
    }
  }

  function setTool(tool) {
    S.tool = tool;
    document.querySelectorAll(".tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
    $("#hint").textContent = tool === "box" ? "Drag a box around the object." :
      "Brush over parts that should be " + (tool === "fg" ? "kept" : "removed") + ", then press Refine.";
  }

  function updateButtons() {
    $("#undo").disabled = S.strokes.length === 0;
    $("#refine").disabled = !S.rect || S.strokes.length === S.ranStrokes;
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (!S.picture) return;
    canvas.setPointerCapture(e.pointerId);
    const p = eventPoint(e);
    if (S.tool === "box") S.drag = { start: p, rect: [p[0], p[1], 0, 0] };
    else {
      const radius = parseFloat($("#brush").value) * scale() / 2;
      S.drag = { stroke: { label: S.tool, radius, points: [p.map((v) => v * scale())] } };
    }
    draw();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!S.drag) return;
    const p = eventPoint(e);
    if (S.drag.rect) {
      const [x0, y0] = S.drag.start;
      S.drag.rect = [Math.min(x0, p[0]), Math.min(y0, p[1]), Math.abs(p[0] - x0), Math.abs(p[1] - y0)];
    } else {
      S.drag.stroke.points.push(p.map((v) => v * scale()));
    }
    draw();
  });
  canvas.addEventListener("pointerup", () => {
    const drag = S.drag;
    S.drag = null;
    if (!drag) return;
    if (drag.rect) {
      if (drag.rect[2] < 4 || drag.rect[3] < 4) { draw(); return; }
      S.rect = drag.rect.map((v) => Math.round(v * scale()));
      S.strokes = [];
      S.ranStrokes = 0;
      cut();
    } else {
      S.strokes.push(drag.stroke);
      if (!S.rect) status("error", "Draw a box around the object first.");
    }
    updateButtons();
    draw();
  });

  function showRect() {
    const el = $("#box-info");
    el.dataset.rect = S.rect ? S.rect.join(",") : "";
    el.textContent = S.rect ? "Box: " + S.rect[2] + " × " + S.rect[3] + " pixels at (" + S.rect[0] + ", " + S.rect[1] + ")" +
      (S.info.reduced ? " of the " + S.info.work_width + " × " + S.info.work_height + " working copy" : "") : "";
  }

  async function cut() {
    const seq = ++S.seq;
    showRect();
    space.dataset.state = "busy";
    status("busy", S.strokes.length ? "Refining…" : "Cutting out…");
    const strokes = S.strokes.slice();
    const answer = await GM.request("POST", GM.api + "/cutout/" + S.job + "/runs?wait=60",
      { rect: S.rect, strokes, box_prior: $("#box-prior").checked });
    let run = answer.data;
    if (answer.code === 202) run = await GM.follow(run, () => status("busy", "Cutting out…"));
    if (seq !== S.seq) return;
    if (!run || run.status !== "done") {
      status("error", run && run.error ? run.error : GM.errorText(answer.code, answer.data));
      space.dataset.state = "error";
      return;
    }
    S.ranStrokes = strokes.length;
    updateButtons();
    await showResult(run);
  }

  async function showResult(run) {
    const r = run.result, img = $("#img-cutout");
    img.hidden = false;
    img.width = canvas.width;
    img.height = canvas.height;
    img.src = r.cutout;
    const fraction = $("#fraction");
    fraction.dataset.fraction = String(r.foreground_fraction);
    fraction.textContent = "Foreground: " + GM.pct(r.foreground_fraction) + " of the image · GrabCut took " + GM.secs(r.timings.grabcut);
    const names = Object.keys(r.downloads);
    for (const [id, suffix] of [["#dl-cutout", "_cutout.png"], ["#dl-mask", "_mask.png"]]) {
      const name = names.find((n) => n.endsWith(suffix));
      $(id).href = r.downloads[name];
      $(id).setAttribute("download", name);
    }
    $("#cutout-downloads").hidden = false;
    const mask = await loadImage(r.mask);
    S.overlay = dimOutside(mask);
    draw();
    await GM.imagesLoaded([img]);
    status("", "");
    space.dataset.run = String(run.run);
    space.dataset.state = "done";
  }

  /* A layer that darkens the pixels the mask calls background. */
  function dimOutside(mask) {
    const layer = document.createElement("canvas");
    layer.width = canvas.width;
    layer.height = canvas.height;
    const c = layer.getContext("2d");
    c.drawImage(mask, 0, 0, layer.width, layer.height);
    const data = c.getImageData(0, 0, layer.width, layer.height), px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const background = px[i] < 128;
      px[i] = 15; px[i + 1] = 18; px[i + 2] = 28; px[i + 3] = background ? 150 : 0;
    }
    c.putImageData(data, 0, 0);
    return layer;
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("cannot load " + url));
      img.src = url;
    });
  }

  async function start(run) {
    S.job = run.job;
    S.info = run.info;
    GM.remember(run.page);
    canvas.width = S.info.preview_width;
    canvas.height = S.info.preview_height;
    S.picture = await loadImage(run.result.original);
    S.rect = null; S.strokes = []; S.overlay = null; S.ranStrokes = 0;
    $("#img-cutout").hidden = true;
    $("#cutout-downloads").hidden = true;
    $("#fraction").textContent = "";
    space.hidden = false;
    setTool("box");
    updateButtons();
    showRect();
    draw();
    space.dataset.state = "ready";
    status("", "");
  }

  async function uploadFile(file) {
    const seq = ++S.seq;
    const data = new FormData();
    data.append("image", file, file.name);
    status("busy", "Uploading…");
    const answer = await GM.upload(form.action + "?wait=60", data, (f) => status("busy", f < 1 ? "Uploading… " + Math.round(100 * f) + " %" : "Reading the image…"));
    let run = answer.data;
    if (answer.code === 202) run = await GM.follow(run, () => status("busy", "Reading the image…"));
    if (seq !== S.seq) return;
    if (!run || run.status !== "done") {
      status("error", run && run.error ? run.error : GM.errorText(answer.code, answer.data));
      return;
    }
    await start(run);
  }

  async function load() {
    const answer = await GM.request("GET", GM.api + "/cutout/" + S.job);
    if (answer.code !== 200 || !answer.data.latest) { status("error", GM.errorText(answer.code, answer.data)); return; }
    let run = await GM.follow(answer.data.latest);
    if (!run || run.status !== "done") { status("error", (run && run.error) || "This upload could not be read."); return; }
    await start(run);
    if (run.params.rect) {
      S.rect = run.params.rect;
      S.strokes = run.params.strokes || [];
      S.ranStrokes = S.strokes.length;
      $("#box-prior").checked = !!run.params.box_prior;
      showRect();
      updateButtons();
      await showResult(run);
    }
  }

  GM.dropzone(uploadFile);
  form.addEventListener("submit", (e) => e.preventDefault());
  document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  $("#undo").addEventListener("click", () => { S.strokes.pop(); S.ranStrokes = Math.min(S.ranStrokes, S.strokes.length - 1); updateButtons(); draw(); });
  $("#refine").addEventListener("click", () => { if (S.rect) cut(); });
  $("#box-prior").addEventListener("change", () => { if (S.rect) cut(); });  /* the same drawing, cut again */
  if (S.job) load();
})();
