// A worker who submits before the task's own scripts have run (extra.js
// held back) is asked to wait; the form goes once they have.
module.exports = async function (page, ctx) {
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route("**/extra.js", async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(ctx.baseUrl + "/?worker_id=w1&assignment_id=a1");
  await page.locator("#greet").waitFor();
  await page.fill("#answer", "too soon");
  await page.click("#html-task-submit-button");
  const status = page.locator("#mephisto-status");
  await status.filter({ hasText: "still loading" }).waitFor();
  ctx.log("early: " + (await status.innerText()));
  ctx.log("sent early: " + (await page.locator("#mephisto-submitted").count()));
  release();
  await page.locator("#mephisto-form[data-ready]").waitFor();
  ctx.log("status once ready: [" + (await status.innerText()) + "]");
  ctx.log("script order: " + (await page.locator("#greet").getAttribute("data-order")));
  await page.fill("#answer", "in time");
  await page.click("#html-task-submit-button");
  await page.locator("#mephisto-submitted").waitFor();
  ctx.log("done");
};
