/*
 * The mturk and mturk_sandbox providers.  MTurk shows the task
 * (an ExternalQuestion HIT) in a frame with these URL parameters:
 *
 *   worker name     workerId
 *   assignment id   assignmentId (ASSIGNMENT_ID_NOT_AVAILABLE in a
 *                   preview, which also has no workerId)
 *   HIT             hitId
 *   submit to       turkSubmitTo (www.mturk.com, or
 *                   workersandbox.mturk.com for mturk_sandbox)
 *   registration    "<assignmentId>-<workerId>"
 *
 * After the work is submitted to mephisto-io, a form with the task data,
 * assignmentId and workerId is posted to <turkSubmitTo>/mturk/externalSubmit
 * so that MTurk records the assignment as submitted.
 */
function getWorkerName() {
  return getParam("workerId");
}

/*
 * A preview has no assignment: MTurk's placeholder reads as none, so
 * that every client (this project's, or mephisto-task 2.0.4, which
 * checks for a null worker or assignment) shows the preview and asks for
 * no unit, even when MTurk also names the worker.
 */
function getAssignmentId() {
  var a = getParam("assignmentId");
  return a === "ASSIGNMENT_ID_NOT_AVAILABLE" ? null : a;
}

function isPreview() {
  return !getWorkerName() || !getAssignmentId();
}

function getAgentRegistration() {
  return mephistoRegistration({ hit_id: getParam("hitId") });
}

function handleSubmitToProvider(task_data) {
  var host = MEPHISTO_PROVIDER_TYPE === "mturk_sandbox" ?
    "https://workersandbox.mturk.com" : "https://www.mturk.com";
  var to = (getParam("turkSubmitTo") || host).replace(/\/+$/, "");
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
