/*
 * The part of wrap_crowd_source.js every provider shares: the globals a
 * task page uses (mephisto-task 2.0.4 reads them).  lib/site writes a run's
 * wrap_crowd_source.js as
 *
 *   var MEPHISTO_PROVIDER_TYPE = "<provider type>";
 *   this file
 *   <the provider's script>.js (local.js, mturk.js, prolific.js)
 *
 * and the provider's script defines getWorkerName, getAssignmentId,
 * getAgentRegistration (with mephistoRegistration) and
 * handleSubmitToProvider.
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

/*
 * The registration every provider sends: the worker and assignment, and
 * "<assignment>-<worker>" as the registration id, so reloading the page
 * reconnects to the same agent; EXTRA adds the provider's own fields.
 */
function mephistoRegistration(extra) {
  var r = {
    worker_name: getWorkerName(),
    agent_registration_id: getAssignmentId() + "-" + getWorkerName(),
    assignment_id: getAssignmentId(),
  };
  var key;
  for (key in extra || {}) r[key] = extra[key];
  r.provider_type = MEPHISTO_PROVIDER_TYPE;
  return r;
}
