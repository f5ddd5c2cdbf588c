// The studio page: upload a photo, send turns of this tab's thread, poll each job, show the result.
// Every word comes from the labels the server embedded (prompts/templates/web_page_<lang>.toml).
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const L = config.labels;
  const $ = (id) => document.getElementById(id);
  const THREAD_KEY = "productshot.thread";
  const STEP_ORDER = ["plan", "cutout", "prompt", "generate", "check_split", "composite", "undo"];
  const ERROR_LABELS = {
    bad_image: "error_bad_image",
    too_large: "error_too_large",
    wrong_type: "error_wrong_type",
    bad_request: "error_bad_request",
    tool_error: "error_bad_request",
    bad_position: "error_bad_position",
    busy: "error_busy",
    worker_unavailable: "error_worker_unavailable",
    tool_server_unavailable: "error_worker_unavailable",
    model_unavailable: "error_model_unavailable",
    llm_error: "error_llm_error",
    step_limit: "error_llm_error",
    not_found: "error_not_found",
    network: "error_network",
  };

  const state = { thread: null, image: null, pendingImage: null, busy: false, results: [] };

  function applyLabels() {
    document.querySelectorAll("[data-l]").forEach((el) => { el.textContent = L[el.dataset.l] || ""; });
    document.querySelectorAll("[data-l-placeholder]").forEach((el) => {
      el.placeholder = L[el.dataset.lPlaceholder] || "";
    });
  }

  // ---- talking to the server -------------------------------------------------------------------------
  // Every request names the page as productshot's own client: the shared HTTP guard refuses a POST that
  // has neither this header nor a JSON body, which is what keeps a cross-site form post out.
  const CLIENT_HEADER = { "X-Productshot-Client": "web-page" };
  async function call(method, url, body, headers) {
    let response;
    try {
      const sent = Object.assign({}, headers || {}, CLIENT_HEADER);
      response = await fetch(url, { method, body, headers: sent, credentials: "same-origin" });
    } catch (err) {
      throw { error: "network", message: "" };
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      if (data && data.error) throw data;
      if (response.status === 413) throw { error: "too_large", message: "" };
      if (data && Array.isArray(data.detail)) throw { error: "bad_request", message: "" };
      throw { error: "error", message: "" };
    }
    return data;
  }
  const postJSON = (url, value) => call("POST", url, JSON.stringify(value), { "Content-Type": "application/json" });

  // ---- messages ---------------------------------------------------------------------------------------
  function showError(err) {
    const key = ERROR_LABELS[err.error] || "error_generic";
    $("error-title").textContent = L[key];
    $("error-detail").textContent = err.message ? " " + sentence(err.message) : "";
    $("error").dataset.code = err.error || "error";
    $("error").hidden = false;
  }
  function clearError() { $("error").hidden = true; $("error").dataset.code = ""; }
  function sentence(text) { return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : "."); }

  function addLog(who, text, extra) {
    const item = document.createElement("li");
    item.className = "from-" + who;
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who === "you" ? L.you : L.studio;
    const body = document.createElement("p");
    body.textContent = text;
    item.append(name, body);
    if (extra) item.append(extra);
    $("log").append(item);
    $("log").scrollTop = $("log").scrollHeight;
  }

  // ---- the thread -------------------------------------------------------------------------------------
  function setThread(thread) {
    state.thread = thread;
    sessionStorage.setItem(THREAD_KEY, thread);
    $("thread").textContent = thread;
    $("thread-hint").textContent = L.thread_hint.replace("${thread}", thread);
  }

  async function startThread(fresh) {
    const known = fresh ? null : sessionStorage.getItem(THREAD_KEY);
    if (known) {
      setThread(known);
      try {
        const view = await call("GET", `/api/threads/${encodeURIComponent(known)}`);
        state.results = view.results;
        renderHistory();
        if (view.last_result) showResult({ url: `/api/threads/${known}/results/${view.last_result}`, asset_id: view.last_result });
        return;
      } catch (err) { /* an unreadable thread: start a new one */ }
    }
    const made = await call("POST", "/api/threads");
    setThread(made.thread);
    state.results = [];
    renderHistory();
  }

  // ---- the photo --------------------------------------------------------------------------------------
  async function upload(file) {
    if (!file) return;
    clearError();
    $("upload-status").textContent = L.uploading;
    $("drop").classList.add("loading");
    try {
      const stored = await call("POST", "/api/uploads", file, {
        "Content-Type": file.type || "application/octet-stream",
        "X-Filename": encodeURIComponent(file.name || ""),
      });
      state.image = stored.image;
      state.pendingImage = stored.image;
      const preview = $("preview");
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
      preview.dataset.asset = stored.image;
      $("drop").classList.add("has-photo");
      $("upload-status").textContent = `${file.name} · ${stored.width}×${stored.height}`;
      $("request").focus();
    } catch (err) {
      $("upload-status").textContent = "";
      showError(err);
    } finally {
      $("drop").classList.remove("loading");
      $("photo").value = "";
    }
  }

  // ---- a turn -----------------------------------------------------------------------------------------
  async function send(text) {
    const request = text.trim();
    if (state.busy) return;
    if (!request) { showError({ error: "bad_request", message: L.need_request }); return; }
    if (!state.pendingImage && state.results.length === 0) {
      showError({ error: "bad_image", message: L.need_photo }); return;
    }
    clearError();
    setBusy(true);
    addLog("you", request);
    const body = { thread: state.thread, request };
    if (state.pendingImage) body.image = state.pendingImage;
    try {
      let job = await postJSON("/api/turns", body);
      state.pendingImage = null;
      resetSteps();
      let cursor = 0;
      while (job.status === "running") {
        // A long poll: the server answers as soon as something new happened (or after 20 s).
        job = await call("GET", `/api/jobs/${job.job}?after=${cursor}&wait=20`);
        job.events.forEach(showEvent);
        cursor = job.next;
      }
      if (job.status === "done") finished(job.result);
      else { showError(job.error || { error: "error" }); addLog("studio", L[ERROR_LABELS[(job.error || {}).error] || "error_generic"]); }
    } catch (err) {
      showError(err);
    } finally {
      setBusy(false);
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    $("send").disabled = busy;
    $("make-listing").disabled = busy;
    $("undo").disabled = busy || state.results.length < 2;
    $("progress").hidden = !busy;
    document.body.classList.toggle("busy", busy);
  }

  function resetSteps() {
    const list = $("steps");
    list.textContent = "";
    list.dataset.current = "";
  }

  function showEvent(event) {
    if (!event.step) return;
    const list = $("steps");
    let item = list.querySelector(`[data-step="${event.step}"]`);
    list.querySelectorAll("li.active").forEach((li) => { if (li !== item) { li.classList.remove("active"); li.classList.add("done"); } });
    if (!item) {
      item = document.createElement("li");
      item.dataset.step = event.step;
      item.innerHTML = '<span class="dot"></span><span class="name"></span><span class="detail"></span>';
      item.querySelector(".name").textContent = L["step_" + event.step] || event.step;
      list.append(item);
    }
    item.classList.add("active");
    const counted = /step (\d+)\/(\d+)/.exec(event.message || "");
    item.querySelector(".detail").textContent = counted ? `${counted[1]}/${counted[2]}` : "";
    list.dataset.current = event.step;
  }

  function finished(result) {
    if (result.listing) { showListing(result); addLog("studio", result.reply || ""); return; }
    if (result.url) {
      showResult(result);
      if (!state.results.some((r) => r.asset_id === result.asset_id)) {
        state.results.push({ asset_id: result.asset_id, url: result.url });
      }
      renderHistory();
    }
    $("warning").hidden = !result.cutout_doubtful;
    const done = $("done-steps");
    done.textContent = "";
    (result.steps || []).forEach((s) => {
      const chip = document.createElement("li");
      chip.dataset.step = s.name;
      const name = document.createElement("span");
      name.textContent = L["step_" + s.name] || s.name;
      const backend = document.createElement("b");
      backend.textContent = s.backend || "";
      const time = document.createElement("small");
      time.textContent = `${Number(s.seconds || 0).toFixed(1)}s`;
      chip.append(name, backend, time);
      done.append(chip);
    });
    addLog("studio", result.reply || "");
  }

  function showResult(result) {
    const img = $("result");
    img.src = result.url;
    img.alt = L.result_alt;
    img.dataset.asset = result.asset_id;
    img.dataset.bbox = result.bbox ? result.bbox.join(",") : "";
    img.hidden = false;
    $("empty").hidden = true;
    for (const [id, fmt] of [["download-png", "png"], ["download-jpeg", "jpeg"]]) {
      const link = $(id);
      link.href = `${result.url}?format=${fmt}`;
      link.setAttribute("download", `productshot-${result.asset_id}.${fmt === "jpeg" ? "jpg" : "png"}`);
      link.setAttribute("aria-disabled", "false");
    }
  }

  // ---- a listing image (made through the same agent turn as a shot; kept apart from the shots) --------
  function showListing(result) {
    const listing = result.listing;
    const img = $("listing-image");
    img.alt = L.listing_alt;
    img.dataset.asset = result.asset_id || "";
    if (result.url) img.src = result.url;
    const verdict = $("listing-verdict");
    verdict.dataset.ok = String(!!listing.ok);
    verdict.dataset.preset = listing.preset || "";
    verdict.textContent = listing.ok ? L.listing_passes : L.listing_fails;
    const rules = $("listing-rules");
    rules.textContent = "";
    (listing.rules || []).forEach((rule) => {
      const item = document.createElement("li");
      item.dataset.rule = rule.name;
      item.dataset.ok = rule.ok === null || rule.ok === undefined ? "null" : String(rule.ok);
      item.dataset.level = rule.level || "";
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = rule.ok === true ? "✓" : rule.ok === false ? "✗" : "?";
      const name = document.createElement("span");
      name.textContent = L["rule_" + rule.kind] || rule.name;
      const state = document.createElement("small");
      const said = rule.ok === true ? L.rule_passed : rule.ok === false ? L.rule_failed : L.rule_unmeasured;
      state.textContent = rule.level === "recommended" ? `${said} · ${L.rule_recommended}` : said;
      item.append(mark, name, state);
      rules.append(item);
    });
    const link = $("download-listing");
    if (result.url) {
      link.href = result.url;
      link.setAttribute("download", `productshot-${listing.preset}-${result.asset_id}.jpg`);
      link.setAttribute("aria-disabled", "false");
    }
    $("listing").hidden = false;
  }

  function fillPresets() {
    const select = $("preset");
    (config.listing_presets || []).forEach((choice) => {
      const option = document.createElement("option");
      option.value = choice.preset;
      option.textContent = choice.label;
      option.dataset.request = choice.request;
      select.append(option);
    });
  }

  function makeListing() {
    const option = $("preset").selectedOptions[0];
    if (option) send(option.dataset.request);
  }

  function renderHistory() {
    const list = $("history");
    list.textContent = "";
    state.results.slice().reverse().forEach((r) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const thumb = document.createElement("img");
      thumb.src = r.url;
      thumb.alt = "";
      thumb.loading = "lazy";
      button.append(thumb);
      button.addEventListener("click", () => showResult(r));
      item.append(button);
      list.append(item);
    });
    $("undo").disabled = state.busy || state.results.length < 2;
  }

  // ---- wiring -----------------------------------------------------------------------------------------
  function wire() {
    $("photo").addEventListener("change", (e) => upload(e.target.files[0]));
    const drop = $("drop");
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
    drop.addEventListener("drop", (e) => { e.preventDefault(); upload(e.dataTransfer.files[0]); });
    $("ask").addEventListener("submit", (e) => { e.preventDefault(); submitBox(); });
    $("request").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitBox(); }
    });
    $("undo").addEventListener("click", () => send(L.undo_request));
    $("make-listing").addEventListener("click", makeListing);
    $("new-thread").addEventListener("click", async () => {
      if (state.busy) return;
      $("log").textContent = "";
      $("result").hidden = true;
      $("empty").hidden = false;
      $("done-steps").textContent = "";
      $("warning").hidden = true;
      $("listing").hidden = true;
      clearError();
      await startThread(true);
      if (state.image) state.pendingImage = state.image;
    });
  }

  function submitBox() {
    const box = $("request");
    const text = box.value;
    if (state.busy || !text.trim()) { if (!text.trim()) send(text); return; }
    box.value = "";
    box.placeholder = L.followup_placeholder;
    send(text);
  }

  applyLabels();
  fillPresets();
  wire();
  startThread(false).catch(showError);
})();
