// A mephisto-task 2.0.4 page: register, metadata, error log, submit.
module.exports = async function (page, ctx) {
  await page.goto(ctx.baseUrl + "/?worker_id=" + ctx.args[0] + "&assignment_id=a1");
  await page.locator("#name").waitFor();
  ctx.log("name: " + (await page.locator("#name").innerText()));
  ctx.log("agent: " + (await page.locator("#agent").innerText()));
  await page.click("#metadata");
  await page.click("#fatal");
  const dialog = page.waitForEvent("dialog");
  await page.click("#submit");
  const d = await dialog;
  ctx.log("provider: " + d.message());
};
