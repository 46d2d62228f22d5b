// The static-task client through a whole unit: load, fill, upload, submit.
//   args: WORKER ASSIGNMENT [UPLOAD_FILE]
module.exports = async function (page, ctx) {
  const [worker, assignment, upload] = ctx.args;
  const q = new URLSearchParams({ worker_id: worker, assignment_id: assignment });
  await page.goto(ctx.baseUrl + "/?" + q);
  const greet = page.locator("#greet");
  await greet.waitFor();
  // the page is ready once its scripts have run
  await page.locator("#mephisto-form[data-ready]").waitFor();
  ctx.log("greet: " + (await greet.innerText()));
  ctx.log("agent: " + (await page.locator("#agent").innerText()));
  ctx.log("inline script: " + (await greet.getAttribute("data-ran")));
  ctx.log("script order: " + (await greet.getAttribute("data-order")));
  ctx.log("submit while scripts run: " + (await greet.getAttribute("data-button")));
  const submit = page.locator("#html-task-submit-button");
  ctx.log("submit before an answer: " +
    ((await submit.isDisabled()) ? "disabled" : "enabled"));
  await page.fill("#answer", "forty two");
  await page.check("#good");
  if (upload) await page.setInputFiles("#file1", upload);
  await page.click("#html-task-submit-button");
  const done = page.locator("#mephisto-submitted");
  await done.waitFor();
  ctx.log("done: " + (await done.innerText()));
  ctx.log("provider: " + ctx.console.filter((l) => l.startsWith("dialog:")).join(" | "));
};
