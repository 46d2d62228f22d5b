// The client keeps trying while the pool is away, when loading and when
// submitting.  args: DIR (hand-shake files: loaded, go).
const path = require("path");
module.exports = async function (page, ctx) {
  const dir = ctx.args[0];
  await page.goto(ctx.baseUrl + "/?worker_id=w&assignment_id=a1");
  await page.locator("#greet").waitFor({ timeout: 60000 });
  ctx.log("loaded: " + (await page.locator("#greet").innerText()));
  ctx.touch(path.join(dir, "loaded"));
  await ctx.waitForFile(path.join(dir, "go"));
  await page.fill("#answer", "despite it all");
  await page.click("#html-task-submit-button");
  await page.locator("#mephisto-status").filter({ hasText: "trying again" })
    .waitFor({ timeout: 20000 });
  ctx.log("saw: retrying");
  ctx.touch(path.join(dir, "retrying"));
  await page.locator("#mephisto-submitted").waitFor({ timeout: 60000 });
  ctx.log("done");
};
