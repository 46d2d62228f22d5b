/*
 * wrap_crowd_source.js for the Prolific provider.  Prolific opens the
 * study URL with the participant's ids filled in (the study's
 * external_study_url asks for them):
 *
 *   worker name     URL parameter participant_id (PROLIFIC_PID)
 *   study           URL parameter study_id (STUDY_ID)
 *   assignment id   URL parameter submission_id (SESSION_ID)
 *   registration    "<submission_id>-<participant_id>", so reloading the
 *                   page reconnects to the same agent
 *
 * Without participant_id the page is a preview.  After the work is
 * submitted to mephisto-io the tab goes to Prolific's completion URL
 * with the study's code, COMPLETED_<study_id>; Prolific then holds the
 * submission for review.  window.PROLIFIC_APP_URL may name another host
 * (tests, private deployments).
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
  return getParam("participant_id");
}

function getAssignmentId() {
  return getParam("submission_id");
}

function isPreview() {
  return !getParam("participant_id") || !getParam("submission_id");
}

function getAgentRegistration() {
  return {
    worker_name: getWorkerName(),
    agent_registration_id: getAssignmentId() + "-" + getWorkerName(),
    assignment_id: getAssignmentId(),
    prolific_study_id: getParam("study_id"),
    provider_type: "prolific",
  };
}

function handleSubmitToProvider(task_data) {
  var base = window.PROLIFIC_APP_URL || "https://app.prolific.com";
  var code = "COMPLETED_" + getParam("study_id");
  window.location.href =
    base + "/submissions/complete?cc=" + encodeURIComponent(code);
  return true;
}
