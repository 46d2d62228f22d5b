/*
 * The static-task client of mephisto-c: shows a task page written in plain
 * HTML and sends the worker's answers to mephisto-io.  No dependencies, no
 * build step.  It speaks the same HTTP protocol as mephisto-task 2.0.4 and
 * takes the worker's identity from the provider's wrap_crowd_source.js
 * (getWorkerName, getAssignmentId, getAgentRegistration,
 * handleSubmitToProvider, and optionally getProviderURLParams).
 *
 * Flow:
 *   no worker or assignment in the URL  show preview.html (preview mode)
 *   GET  /task_config.json              version check, block_mobile
 *   POST /request_agent                 agent_details: agent or reason
 *   agent "onboarding_..."              onboarding.html, then
 *                                       POST /submit_onboarding, which
 *                                       returns the worker's next agent
 *   other agents                        GET /<init_task_data.html>, then
 *                                       POST /submit_task (multipart)
 *
 * The page's ${key} placeholders are filled from init_task_data, plus
 * ${mephisto_agent_id} and ${provider_worker_id}; values are HTML-escaped.
 * Its scripts run in order (inline ones in the global scope).  It is
 * wrapped in a form (id mephisto-form) with a submit button (id
 * html-task-submit-button), which is the task's to disable or hide.  The
 * form is submitted only once those scripts have run; then it has the
 * attribute data-ready.
 * Requests answered 503 with {"retryable": true} are tried again.
 */
(function () {
  "use strict";

  var LIB_VERSION = "2.0.4";
  var RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000];

  var statusEl = document.getElementById("mephisto-status");
  var taskEl = document.getElementById("mephisto-task");

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.className = isError ? "error" : "";
  }

  function pythonTime() {
    return Date.now() / 1000;
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  /* Provider URL parameters (getProviderURLParams) on every request. */
  function providerParams() {
    try {
      if (typeof getProviderURLParams === "undefined") return null;
      return typeof getProviderURLParams === "function"
        ? getProviderURLParams()
        : getProviderURLParams;
    } catch (e) {
      return null;
    }
  }

  // Server paths are resolved against the page's folder, so a task served
  // under a path prefix (a reverse proxy's /tasks/) keeps working.
  function url(path) {
    var u = new URL(path.replace(/^\//, ""), document.baseURI);
    var extra = providerParams() || {};
    Object.keys(extra).forEach(function (k) {
      u.searchParams.set(k, extra[k]);
    });
    return u.toString();
  }

  function RequestError(message, status, retryable) {
    this.message = message;
    this.status = status;
    this.retryable = retryable;
  }

  /*
   * Send a request and parse its JSON answer; a 503 with retryable true
   * (or a network failure) is tried again after a growing delay.
   */
  async function request(method, path, body, what) {
    for (var attempt = 0; ; attempt++) {
      var res = null, data = null, failure;
      try {
        var opts = { method: method, credentials: "same-origin" };
        if (body instanceof FormData) {
          opts.body = body;
        } else if (body !== undefined) {
          opts.body = JSON.stringify(body);
          opts.headers = { "Content-Type": "application/json" };
        }
        res = await fetch(url(path), opts);
        var text = await res.text();
        try {
          data = text ? JSON.parse(text) : null;
        } catch (e) {
          data = null;
        }
        if (res.ok) return data;
        failure = new RequestError(
          (data && data.error) || res.status + " " + res.statusText,
          res.status,
          !!(data && data.retryable) || res.status === 503
        );
      } catch (e) {
        failure = new RequestError(String(e.message || e), 0, true);
      }
      if (!failure.retryable || attempt >= RETRY_DELAYS_MS.length) {
        throw failure;
      }
      setStatus(what + " — the server is busy, trying again…");
      await sleep(RETRY_DELAYS_MS[attempt]);
    }
  }

  async function fetchText(path) {
    var res = await fetch(url(path), { credentials: "same-origin" });
    if (!res.ok) {
      throw new RequestError("cannot load " + path + " (" + res.status + ")",
        res.status, false);
    }
    return res.text();
  }

  function escapeHtml(value) {
    if (value === null || value === undefined) return "";
    if (typeof value !== "string") value = JSON.stringify(value);
    return value
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  /* Replace ${key} for every key of VARS; unknown keys stay as they are. */
  function fillTemplate(html, vars) {
    return html.replace(/\$\{\s*([A-Za-z0-9_.-]+)\s*\}/g, function (m, key) {
      return Object.prototype.hasOwnProperty.call(vars, key)
        ? escapeHtml(vars[key])
        : m;
    });
  }

  /* Run the scripts of EL in document order, inline ones globally. */
  async function runScripts(el) {
    var scripts = Array.prototype.slice.call(el.querySelectorAll("script"));
    for (var i = 0; i < scripts.length; i++) {
      var old = scripts[i];
      var s = document.createElement("script");
      Array.prototype.forEach.call(old.attributes, function (a) {
        s.setAttribute(a.name, a.value);
      });
      if (old.src) {
        await new Promise(function (resolve) {
          s.onload = resolve;
          s.onerror = function () {
            console.error("cannot load script " + old.src);
            resolve();
          };
          document.head.appendChild(s);
        });
      } else {
        s.textContent = old.textContent;
        document.head.appendChild(s);
      }
      old.parentNode.removeChild(old);
    }
  }

  function showBlocked(text) {
    setStatus("");
    taskEl.innerHTML = "";
    var p = document.createElement("p");
    p.className = "mephisto-blocked";
    p.id = "mephisto-blocked";
    p.textContent = text;
    taskEl.appendChild(p);
  }

  function showSubmitted() {
    setStatus("");
    taskEl.innerHTML = "";
    var p = document.createElement("p");
    p.id = "mephisto-submitted";
    p.textContent = "Submitted. Thank you for your work!";
    taskEl.appendChild(p);
  }

  /* The form's fields as an object: strings, files as their description. */
  function formObject(form) {
    var out = {};
    new FormData(form).forEach(function (value, key) {
      if (typeof File !== "undefined" && value instanceof File) {
        value = value.name || value.size
          ? {
              lastModified: value.lastModified,
              name: value.name,
              size: value.size,
              type: value.type,
            }
          : {};
      }
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        if (!Array.isArray(out[key])) out[key] = [out[key]];
        out[key].push(value);
      } else {
        out[key] = value;
      }
    });
    return out;
  }

  /* Show HTML inside a form; ONSUBMIT gets the form when it is sent. */
  async function showPage(html, onsubmit) {
    setStatus("");
    taskEl.innerHTML = "";
    var form = document.createElement("form");
    form.id = "mephisto-form";
    form.setAttribute("enctype", "multipart/form-data");
    form.setAttribute("method", "post");
    var content = document.createElement("div");
    content.id = "mephisto-task-content";
    content.innerHTML = html;
    form.appendChild(content);
    var ready = false, early = false;
    if (onsubmit) {
      var button = document.createElement("button");
      button.type = "submit";
      button.id = "html-task-submit-button";
      button.textContent = "Submit";
      form.appendChild(button);
      var emitter = window._MEPHISTO_CONFIG_ &&
        window._MEPHISTO_CONFIG_.EVENT_EMITTER;
      if (emitter && emitter.on) {
        emitter.on("HIDE_SUBMIT_BUTTON", function (hide) {
          button.style.display = hide ? "none" : "";
        });
      }
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        /* Not before the task's own scripts have run. */
        if (!ready) {
          early = true;
          setStatus("The task is still loading. Please submit again " +
            "in a moment.");
          return;
        }
        if (button.disabled) return;
        button.disabled = true;
        onsubmit(form).catch(function (e) {
          setStatus("Could not submit: " + e.message +
            ". Please try again.", true);
          button.disabled = false;
        });
      });
    }
    taskEl.appendChild(form);
    await runScripts(content);
    ready = true;
    form.setAttribute("data-ready", "");
    if (early) setStatus("");
  }

  function templateVars(details, providerWorkerId) {
    var vars = Object.assign({}, details.init_task_data || {});
    vars.mephisto_agent_id = details.agent_id;
    vars.provider_worker_id = providerWorkerId;
    return vars;
  }

  async function submitTask(agentId, form) {
    var data = formObject(form);
    var body = new FormData(form);
    body.append("USED_AGENT_ID", agentId);
    body.append("final_string_data", JSON.stringify(data));
    setStatus("Submitting…");
    await request("POST", "/submit_task", body, "Submitting");
    showSubmitted();
    handleSubmitToProvider(data);
  }

  async function submitOnboarding(agentId, form, providerWorkerId) {
    var data = formObject(form);
    setStatus("Submitting…");
    var packet = await request("POST", "/submit_onboarding", {
      provider_data: { USED_AGENT_ID: agentId, onboarding_data: data },
      client_timestamp: pythonTime(),
    }, "Submitting");
    await afterRegistration(packet, providerWorkerId);
  }

  async function afterRegistration(packet, providerWorkerId) {
    var details = (packet && packet.data) || {};
    var agentId = details.agent_id;
    if (agentId === null || agentId === undefined) {
      showBlocked(details.failure_reason ||
        "Sorry, you are not able to work on this task. (code: null_agent_id)");
      return;
    }
    var vars = templateVars(details, providerWorkerId);
    if (String(agentId).indexOf("onboarding") === 0) {
      var onboarding = await fetchText("/onboarding.html");
      await showPage(fillTemplate(onboarding, vars), function (form) {
        return submitOnboarding(agentId, form, providerWorkerId);
      });
      return;
    }
    var page = (details.init_task_data || {}).html;
    if (!page) {
      throw new RequestError("the task data names no page", 0, false);
    }
    var html = await fetchText("/" + encodeURIComponent(page));
    await showPage(fillTemplate(html, vars), function (form) {
      return submitTask(agentId, form);
    });
  }

  function isMobile() {
    return /Android|webOS|iPhone|iPad|iPod|BlackBerry|IEMobile|Opera Mini/i
      .test(navigator.userAgent);
  }

  async function main() {
    var workerName = getWorkerName();
    var assignmentId = getAssignmentId();
    var preview = typeof isPreview === "function" ? isPreview() :
      workerName === null || assignmentId === null;

    var config = await request("GET",
      "/task_config.json?mephisto_task_version=" + LIB_VERSION, undefined,
      "Loading");
    if (config && config.mephisto_task_version !== LIB_VERSION) {
      console.warn("Version mismatch: this page speaks mephisto-task " +
        LIB_VERSION + ", the server " + config.mephisto_task_version);
    }
    if (config && config.block_mobile && isMobile()) {
      showBlocked("Sorry, this task cannot be completed on mobile devices. " +
        "Please use a computer.");
      return;
    }
    if (preview) {
      var html = await fetchText("/preview.html");
      await showPage(html, null);
      return;
    }
    setStatus("Finding work for you…");
    var packet = await request("POST", "/request_agent", {
      provider_data: getAgentRegistration(),
      client_timestamp: pythonTime(),
    }, "Finding work for you");
    await afterRegistration(packet, workerName);
  }

  main().catch(function (e) {
    setStatus("Sorry, the task could not be loaded: " + e.message, true);
  });
})();
