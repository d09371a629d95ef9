"use strict";
// The playground: the API's own routes, called from this page with the key typed into it.
// No framework, no third-party code; the key lives in this tab's sessionStorage only.
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const base = new URL(".", location.href); // the API's root, whatever the stage
  const api = (path) => new URL(path.replace(/^\//, ""), base);
  const TERMINAL = ["succeeded", "failed", "canceled"];
  const keyInput = $("#key");
  let models = [];

  // -- talking to the API -------------------------------------------------------------------

  class ApiError extends Error {}

  async function call(method, path, body, headers = {}) {
    const sent = { ...headers };
    const key = keyInput.value.trim();
    if (key) sent.authorization = `Bearer ${key}`;
    if (body && !(body instanceof FormData)) {
      sent["content-type"] = "application/json";
      body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(api(path), { method, headers: sent, body, cache: "no-store" });
    } catch (err) {
      throw new ApiError(`the API could not be reached (${err.message})`);
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
    if (!response.ok) {
      const message = payload?.error?.message || payload?.message || `HTTP ${response.status}`;
      const error = new ApiError(message);
      error.status = response.status;
      throw error;
    }
    return { status: response.status, body: payload };
  }

  function showError(message) {
    const box = $("#error");
    box.textContent = message;
    box.hidden = !message;
  }

  // -- the API key: this tab only -------------------------------------------------------------

  keyInput.value = sessionStorage.getItem("imagegen.key") || "";
  keyInput.addEventListener("change", () => {
    sessionStorage.setItem("imagegen.key", keyInput.value.trim());
    loadModels();
  });

  // -- tabs ------------------------------------------------------------------------------------

  // WAI-ARIA tabs: click or arrow keys (Left/Right, Home/End) choose; only the chosen one is in the Tab
  // order. A tab's answer belongs to it: switching clears the error, the results and the cost line.
  const tabs = [...document.querySelectorAll("[role=tab]")];

  function choose(tab) {
    for (const other of tabs) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", String(chosen));
      other.tabIndex = chosen ? 0 : -1;
      $(`#${other.getAttribute("aria-controls")}`).hidden = !chosen;
    }
    clearResults();
  }

  for (const tab of tabs) {
    tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
    tab.addEventListener("click", () => choose(tab));
    tab.addEventListener("keydown", (event) => {
      const at = tabs.indexOf(tab);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      const target = tabs[(next + tabs.length) % tabs.length];
      choose(target);
      target.focus();
    });
  }

  // -- models, sizes, prices (GET /v1/models: the catalog's rows this deployment serves) -----

  const money = (usd) => `$${Number(usd).toFixed(usd < 0.1 ? 3 : 2)}`;

  function chosenModel(select) {
    const task = select.dataset.task;
    const id = select.value || models.find((m) => m.default_for.includes(task))?.id;
    return models.find((m) => m.id === id);
  }

  function describe(select) {
    const form = select.form;
    const model = chosenModel(select);
    const price = $(".price", form);
    if (!model) {
      price.textContent = "";
      return;
    }
    const when = model.provider === "replicate" ? "runs as a job (progress below)" : "answers at once";
    const cost = model.price_per_image_usd == null ? "billed by its endpoint" : `${money(model.price_per_image_usd)} per image (list price of ${model.price_date})`;
    price.textContent = `${model.id}: ${cost}; ${when}`;
    const size = form.elements.size;
    if (size) {
      const keep = size.value;
      size.replaceChildren(new Option("auto", "auto"), ...model.sizes.map((s) => new Option(s, s)));
      if ([...size.options].some((o) => o.value === keep)) size.value = keep;
    }
  }

  async function loadModels() {
    try {
      models = (await call("GET", "v1/models")).body.data;
      showError("");
    } catch (err) {
      models = [];
      showError(err.status === 401 || err.status === 403 ? `${err.message}: enter an API key above` : err.message);
    }
    for (const select of document.querySelectorAll("select[data-task]")) {
      const task = select.dataset.task;
      const keep = select.value;
      const served = models.filter((m) => m.tasks.includes(task));
      const fallback = served.find((m) => m.default_for.includes(task));
      select.replaceChildren(
        new Option(`auto${fallback ? ` (${fallback.id}${task === "edit" ? "; with a mask, an inpainting model" : ""})` : ""}`, ""),
        ...served.map((m) => new Option(m.id, m.id)),
      );
      if (served.some((m) => m.id === keep)) select.value = keep;
      describe(select);
    }
  }

  for (const select of document.querySelectorAll("select[data-task]")) {
    select.addEventListener("change", () => describe(select));
  }

  // -- results and progress ------------------------------------------------------------------

  const EXTENSIONS = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

  // Image URLs the page shows: https (S3), blob: and data:; plain http only when the page itself is
  // (make serve, whose bucket is LocalStack's). Anything else an answer names is not shown.
  const IMAGE_SCHEMES = ["https:", "blob:", "data:", ...(location.protocol === "http:" ? ["http:"] : [])];
  const safeUrl = (url) => {
    try {
      return IMAGE_SCHEMES.includes(new URL(url).protocol) ? url : null;
    } catch (_) {
      return null;
    }
  };

  function addImages(jobId, images) {
    images.forEach((image, n) => {
      const url = safeUrl(image.url);
      if (!url) {
        showError(`image ${n + 1} of job ${jobId} has a URL this page does not open`);
        return;
      }
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = url;
      img.alt = `image ${n + 1} of job ${jobId}`;
      const caption = document.createElement("figcaption");
      const link = document.createElement("a");
      // S3 answers download_url as a download named <job id>-<n>.<ext> (a browser ignores `download`
      // on another origin); `download` names it where the URL is the page's own
      link.href = safeUrl(image.download_url) || url;
      link.download = `${jobId}-${n}.${EXTENSIONS[image.content_type] || "png"}`;
      link.textContent = "Download";
      caption.append(`${jobId.slice(0, 8)} #${n + 1}`, link);
      figure.append(img, caption);
      $("#results").append(figure);
    });
  }

  let shown = 0; // which answer the results area belongs to: a late answer of an older one writes nothing

  function clearResults() {
    shown += 1;
    following = null;
    showError("");
    $("#results").replaceChildren();
    $("#cost").textContent = "";
    $("#progress").hidden = true;
  }

  async function showCost(cost, count) {
    if (cost == null) return;
    const mine = shown;
    const line = `${count} image${count === 1 ? "" : "s"}: ${money(cost)} at list price`;
    $("#cost").textContent = line;
    try {
      const usage = (await call("GET", "v1/usage")).body;
      if (mine !== shown) return; // another request (or tab) owns the line now
      const left = Object.entries(usage.left_usd || {}).map(([period, usd]) => `${money(usd)} left this ${period}`);
      $("#cost").textContent =
        `${line} · last 7 days on this key: ${money(usage.cost_usd)} for ${usage.images} images` +
        (left.length ? ` · ${left.join(", ")}` : "");
    } catch (_) {
      // usage is extra: the result is already shown
    }
  }

  let following = null;
  let submitted = 0; // when the request went out: a job's elapsed time counts from there

  async function follow(jobs) {
    const progress = $("#progress");
    const started = submitted || performance.now();
    const state = { jobs: jobs.map((j) => ({ ...j })), canceled: false };
    const mine = shown;
    following = state;
    progress.hidden = false;
    $("#cancel").hidden = false;
    const show = () => {
      $(".state", progress).textContent = state.jobs.map((j) => j.status).join(", ");
      $(".elapsed", progress).textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    };
    const ticker = setInterval(show, 100);
    show();
    try {
      while (following === state && state.jobs.some((j) => !TERMINAL.includes(j.status))) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        for (const [i, job] of state.jobs.entries()) {
          if (!TERMINAL.includes(job.status)) {
            state.jobs[i] = (await call("GET", `v1/jobs/${encodeURIComponent(job.id)}`)).body; // from its id only
          }
        }
        show();
      }
    } finally {
      clearInterval(ticker);
      $("#cancel").hidden = true;
    }
    if (mine !== shown) return; // the page moved on (another request, another tab)
    let cost = null;
    let count = 0;
    for (const job of state.jobs) {
      if (job.status === "succeeded") {
        addImages(job.id, job.images);
        count += job.images.length;
        if (job.cost_usd != null) cost = (cost || 0) + job.cost_usd;
      }
    }
    const failed = state.jobs.filter((j) => j.status !== "succeeded");
    if (failed.length) showError(failed.map((j) => j.error || `the job was ${j.status}`).join("\n"));
    showCost(cost, count);
  }

  $("#cancel").addEventListener("click", async () => {
    if (!following) return;
    for (const job of following.jobs) {
      if (TERMINAL.includes(job.status)) continue;
      try {
        Object.assign(job, (await call("POST", `v1/jobs/${encodeURIComponent(job.id)}/cancel`)).body);
      } catch (err) {
        showError(err.message);
      }
    }
  });

  // An answer of generate, edit or variations: the images now (201) or the jobs making them (202).
  async function present(answer) {
    const body = answer.body;
    if (answer.status === 201) {
      const jobId = body.id || body.jobs?.[0]?.id || "images";
      addImages(jobId, body.images || []);
      showCost(body.cost_usd, (body.images || []).length);
      return;
    }
    const jobs = body.jobs ? body.jobs.filter((j) => j.id) : [body];
    await follow(jobs);
  }

  // Send a form's request (the button off meanwhile), then show its answer with `show`.
  async function submit(form, send, show = present) {
    const button = $("button[type=submit]", form);
    button.disabled = true;
    clearResults();
    const mine = shown;
    submitted = performance.now();
    try {
      const answer = await send();
      if (mine === shown) await show(answer);
    } catch (err) {
      if (mine === shown) showError(err.message);
    } finally {
      button.disabled = false;
    }
  }

  const PREFER = { prefer: "wait=1" }; // a quick job answers at once; a slower one shows its progress

  // -- generate ----------------------------------------------------------------------------

  $("#generate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { prompt: form.elements.prompt.value, n: Number(form.elements.n.value) || 1 };
    if (form.elements.model.value) body.model = form.elements.model.value;
    if (form.elements.size.value !== "auto") body.size = form.elements.size.value;
    submit(form, () => call("POST", "v1/images/generations", body, PREFER));
  });

  // -- picking an image: a file input that also takes a drop -----------------------------------

  for (const drop of document.querySelectorAll(".drop")) {
    const input = $("input[type=file]", drop);
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      if (event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        input.dispatchEvent(new Event("change"));
      }
    });
  }

  function loadImage(file) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new ApiError(`${file.name} is not an image this browser can read`));
      img.src = URL.createObjectURL(file);
    });
  }

  // -- edit: the mask is painted on a canvas over the picture ---------------------------------

  const editForm = $("#edit-form");
  const picture = $("canvas.picture", editForm);
  const mask = $("canvas.mask", editForm);
  let painted = false;

  // The picture is what is on screen: a file the browser cannot read clears it, so the last one is
  // never sent in its place. It is drawn at most at the size the edit will be sent at.
  editForm.elements.image.addEventListener("change", async () => {
    const file = editForm.elements.image.files[0];
    for (const canvas of [picture, mask]) canvas.width = canvas.height = 0;
    painted = false;
    $(".paint", editForm).hidden = true;
    if (!file) return;
    try {
      const img = await loadImage(file);
      const [width, height] = fitted(img.naturalWidth, img.naturalHeight);
      for (const canvas of [picture, mask]) {
        canvas.width = width;
        canvas.height = height;
      }
      picture.getContext("2d").drawImage(img, 0, 0, width, height);
      $(".paint", editForm).hidden = false;
      showError("");
    } catch (err) {
      editForm.elements.image.value = "";
      showError(err.message);
    }
  });

  // An edit goes as the model takes it: at most its input pixels (GET /v1/models) and at most
  // SEND_PIXELS, so a 12 MP phone photo and its mask fit the API's ~4.5 MB upload as JPEG + PNG.
  const SEND_PIXELS = 4_194_304;
  function fitted(width, height) {
    const model = models.find((m) => m.id === editForm.elements.model.value);
    const most = Math.min(SEND_PIXELS, model?.max_input_pixels || SEND_PIXELS);
    const scale = Math.min(1, Math.sqrt(most / (width * height)));
    return [Math.max(1, Math.floor(width * scale)), Math.max(1, Math.floor(height * scale))];
  }
  const toJpeg = (canvas) => new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));

  function paintAt(event) {
    const box = mask.getBoundingClientRect();
    const scale = mask.width / box.width;
    const x = (event.clientX - box.left) * scale;
    const y = (event.clientY - box.top) * scale;
    const brush = Number(editForm.elements.brush.value) * scale;
    const ctx = mask.getContext("2d");
    ctx.fillStyle = "#ff2d55";
    ctx.beginPath();
    ctx.arc(x, y, brush / 2, 0, Math.PI * 2);
    ctx.fill();
    painted = true;
  }

  mask.addEventListener("pointerdown", (event) => {
    mask.setPointerCapture(event.pointerId);
    paintAt(event);
  });
  mask.addEventListener("pointermove", (event) => {
    if (mask.hasPointerCapture(event.pointerId)) paintAt(event);
  });
  $(".clear", editForm).addEventListener("click", () => {
    mask.getContext("2d").clearRect(0, 0, mask.width, mask.height);
    painted = false;
  });

  const toPng = (canvas) => new Promise((resolve) => canvas.toBlob(resolve, "image/png"));

  // OpenAI's mask: the image's size, fully transparent (alpha 0) where it may change, opaque elsewhere.
  async function maskPng() {
    const out = document.createElement("canvas");
    out.width = mask.width;
    out.height = mask.height;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.globalCompositeOperation = "destination-out";
    ctx.drawImage(mask, 0, 0);
    return toPng(out);
  }

  function options(form, data) {
    data.append("n", String(Number(form.elements.n.value) || 1));
    if (form.elements.model.value) data.append("model", form.elements.model.value);
    return data;
  }

  editForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(editForm, async () => {
      if (!picture.width) throw new ApiError("pick an image this browser can read first");
      const data = new FormData();
      // the picture as drawn (EXIF rotation applied, scaled to what is sent), so the mask's size is its size
      data.append("image", await toJpeg(picture), "image.jpg");
      if (painted) data.append("mask", await maskPng(), "mask.png");
      if (editForm.elements.prompt.value.trim()) data.append("prompt", editForm.elements.prompt.value);
      return call("POST", "v1/images/edits", options(editForm, data), PREFER);
    });
  });

  // -- variations ----------------------------------------------------------------------------

  $("#variation-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    submit(form, () => {
      const data = new FormData();
      data.append("image", form.elements.image.files[0]);
      return call("POST", "v1/images/variations", options(form, data), PREFER);
    });
  });

  // -- analysis: labels listed, boxes drawn over the image -----------------------------------

  async function drawAnalysis(file, answer) {
    const canvas = $("#analysis");
    const list = $("#labels");
    list.replaceChildren();
    canvas.hidden = true;
    const result = answer.results[0];
    if (result.error) throw new ApiError(result.error.message);
    const img = await loadImage(file);
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const line = Math.max(2, Math.round(canvas.width / 200));
    ctx.lineWidth = line;
    ctx.font = `${line * 7}px system-ui, sans-serif`;
    for (const found of result.detections || []) {
      ctx.strokeStyle = ctx.fillStyle = "#ff2d55";
      ctx.strokeRect(found.x, found.y, found.width, found.height);
      const text = `${found.label} ${(found.score * 100).toFixed(0)}%`;
      ctx.fillRect(found.x, Math.max(0, found.y - line * 9), ctx.measureText(text).width + line * 2, line * 9);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, found.x + line, Math.max(line * 7, found.y - line * 2));
    }
    canvas.hidden = false;
    for (const found of result.labels || result.detections || []) {
      const item = document.createElement("li");
      item.textContent = `${found.label}: ${(found.score * 100).toFixed(1)}%`;
      list.append(item);
    }
  }

  $("#analyze-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const file = form.elements.image.files[0];
    const data = new FormData();
    data.append("image", file);
    submit(
      form,
      () => call("POST", `v1/images/${form.elements.task.value}`, data),
      (answer) => drawAnalysis(file, answer.body),
    );
  });

  loadModels();
})();
