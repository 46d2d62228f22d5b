/*
 * The mock and inhouse providers: workers are whoever the URL names.
 *
 *   worker name     URL parameter worker_id
 *   assignment id   URL parameter assignment_id (mock) or id (inhouse, a
 *                   pseudo id, to pass validation)
 *
 * Submitting shows the data (mock), or thanks the worker and goes to
 * the welcome page (inhouse).
 */
function getWorkerName() {
  return getParam("worker_id");
}

function getAssignmentId() {
  return getParam(MEPHISTO_PROVIDER_TYPE === "inhouse" ? "id" : "assignment_id");
}

function getAgentRegistration() {
  return mephistoRegistration();
}

function handleSubmitToProvider(task_data) {
  if (MEPHISTO_PROVIDER_TYPE === "inhouse") {
    alert("Thank you for your work! Your submission has been recorded.");
    window.location.replace("welcome");
    return true;
  }
  if (typeof task_data === "string") {
    try {
      task_data = JSON.parse(task_data);
    } catch (e) {
      /* keep the text */
    }
  }
  alert("The task has been submitted! Data: " + JSON.stringify(task_data));
  return true;
}
