// Onboarding first, then straight into a real unit.
module.exports = async function (page, ctx) {
  await page.goto(ctx.baseUrl + "/?worker_id=" + ctx.args[0] + "&assignment_id=a1");
  const onb = page.locator("#onboarding-question");
  await onb.waitFor();
  ctx.log("onboarding: " + (await onb.innerText()));
  await page.fill("#q1", "blue");
  await page.click("#html-task-submit-button");
  const greet = page.locator("#greet");
  await greet.waitFor();
  ctx.log("task: " + (await greet.innerText()));
  ctx.log("agent: " + (await page.locator("#agent").innerText()));
  await page.fill("#answer", "after onboarding");
  await page.click("#html-task-submit-button");
  await page.locator("#mephisto-submitted").waitFor();
  ctx.log("done");
};
