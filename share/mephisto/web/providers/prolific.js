/*
 * The Prolific provider.  Prolific opens the
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
  return mephistoRegistration({ prolific_study_id: getParam("study_id") });
}

function handleSubmitToProvider(task_data) {
  var base = window.PROLIFIC_APP_URL || "https://app.prolific.com";
  var code = "COMPLETED_" + getParam("study_id");
  window.location.href =
    base + "/submissions/complete?cc=" + encodeURIComponent(code);
  return true;
}
