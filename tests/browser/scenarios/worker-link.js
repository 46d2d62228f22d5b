// A worker follows a link printed by `mephisto launch`: onboarding (if
// the page shows it), then the task, a file upload, and Submitted.
//   BASE_URL is the link; args: ONBOARDING_ANSWER RATING [UPLOAD_FILE]
module.exports = async function (page, ctx) {
  const [color, rating, upload] = ctx.args;
  await page.goto(ctx.baseUrl);
  const form = page.locator("#html-task-submit-button");
  await form.waitFor();
  const onboarding = page.locator("input[name=color]");
  if (await onboarding.count()) {
    ctx.log("onboarding: " + (await page.locator("h1").innerText()));
    await page.check(`input[name=color][value=${color}]`);
    await page.click("#html-task-submit-button");
    await page.locator("input[name=rating]").first().waitFor();
  }
  ctx.log("task: " + (await page.locator("p").first().innerText()));
  await page.check(`input[name=rating][value=${rating}]`);
  await page.fill("input[name=comment]", "typed in a browser");
  if (upload) await page.setInputFiles("input[name=evidence]", upload);
  await page.click("#html-task-submit-button");
  const done = page.locator("#mephisto-submitted");
  await done.waitFor();
  ctx.log("done: " + (await done.innerText()));
};
