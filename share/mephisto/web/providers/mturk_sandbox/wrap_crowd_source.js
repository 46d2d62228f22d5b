/*
 * wrap_crowd_source.js for the mturk_sandbox provider.  MTurk shows the task
 * (an ExternalQuestion HIT) in a frame with these URL parameters:
 *
 *   worker name     workerId
 *   assignment id   assignmentId (ASSIGNMENT_ID_NOT_AVAILABLE in a
 *                   preview, which also has no workerId)
 *   HIT             hitId
 *   submit to       turkSubmitTo (https://workersandbox.mturk.com)
 *   registration    "<assignmentId>-<workerId>"
 *
 * After the work is submitted to mephisto-io, a form with the task data,
 * assignmentId and workerId is posted to <turkSubmitTo>/mturk/externalSubmit
 * so that MTurk records the assignment as submitted.
 */
(function () {
  "use strict";
  var config = (window._MEPHISTO_CONFIG_ = window._MEPHISTO_CONFIG_ || {});
  var listeners = {};
  var values = {
    AUTO_SUBMIT_ERRORS: false,
    ADD_ERROR_HANDLING: false,
    ERROR_REPORT_TO_EMAIL: null,
  };
  config.EVENT_EMITTER = config.EVENT_EMITTER || {
    on: function (name, fn) {
      (listeners[name] = listeners[name] || []).push(fn);
    },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) {
        return f !== fn;
      });
    },
    emit: function (name, value) {
      (listeners[name] || []).forEach(function (f) {
        f(value);
      });
    },
  };
  config.get = function (key) {
    if (!(key in values)) throw new Error("Property " + key + " not found");
    return values[key];
  };
  config.set = function (key, value) {
    values[key] = value;
    config.EVENT_EMITTER.emit(key, value);
  };
})();

function getParam(name) {
  return new URLSearchParams(window.location.search).get(name);
}

function getWorkerName() {
  return getParam("workerId");
}

function getAssignmentId() {
  return getParam("assignmentId");
}

function isPreview() {
  var a = getAssignmentId();
  return !getWorkerName() || !a || a === "ASSIGNMENT_ID_NOT_AVAILABLE";
}

function getAgentRegistration() {
  return {
    worker_name: getWorkerName(),
    agent_registration_id: getAssignmentId() + "-" + getWorkerName(),
    assignment_id: getAssignmentId(),
    hit_id: getParam("hitId"),
    provider_type: "mturk_sandbox",
  };
}

function handleSubmitToProvider(task_data) {
  var to = (getParam("turkSubmitTo") || "https://workersandbox.mturk.com").replace(/\/+$/, "");
  var form = document.createElement("form");
  var fields = {};
  var key;
  if (typeof task_data === "string") {
    try {
      task_data = JSON.parse(task_data);
    } catch (e) {
      task_data = { data: task_data };
    }
  }
  for (key in task_data || {}) {
    var v = task_data[key];
    fields[key] = typeof v === "string" ? v : JSON.stringify(v);
  }
  fields.assignmentId = getAssignmentId();
  fields.workerId = getWorkerName();
  form.method = "POST";
  form.action = to + "/mturk/externalSubmit";
  for (key in fields) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = key;
    input.value = fields[key];
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
  return true;
}
