/*
 * wrap_crowd_source.js for the inhouse provider: the globals a task page
 * uses to learn who the worker is and to hand the finished work to the
 * crowd provider (mephisto-task 2.0.4 reads them).
 *
 *   worker name     URL parameter worker_id
 *   assignment id   URL parameter id (a pseudo id, to pass validation)
 *   registration    "<assignment_id>-<worker_name>", so reloading the
 *                   page reconnects to the same agent
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

function getWorkerName() {
  return new URLSearchParams(window.location.search).get("worker_id");
}

function getAssignmentId() {
  return new URLSearchParams(window.location.search).get("id");
}

function getAgentRegistration() {
  return {
    worker_name: getWorkerName(),
    agent_registration_id: getAssignmentId() + "-" + getWorkerName(),
    assignment_id: getAssignmentId(),
    provider_type: "inhouse",
  };
}

function handleSubmitToProvider(task_data) {
  alert("Thank you for your work! Your submission has been recorded.");
  window.location.replace("welcome");
  return true;
}
