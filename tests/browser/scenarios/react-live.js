// A live mephisto-task page over the WebSocket.  args: DIR (hand-shakes:
// connected -> pushed).
const path = require("path");
module.exports = async function (page, ctx) {
  const dir = ctx.args[0];
  await page.goto(ctx.baseUrl + "/?live=1&worker_id=w&assignment_id=a1");
  await page.locator("#connection").filter({ hasText: "connected" }).waitFor();
  ctx.log("connection: " + (await page.locator("#connection").innerText()));
  await page.locator("#status").filter({ hasText: "none" }).waitFor();
  ctx.log("status: " + (await page.locator("#status").innerText()));
  await page.click("#send");
  ctx.touch(path.join(dir, "connected"));
  await page.locator("#updates li").first().waitFor();
  ctx.log("update: " + (await page.locator("#updates li").first().innerText()));
  await page.locator("#status").filter({ hasText: "in task" }).waitFor();
  ctx.log("status: " + (await page.locator("#status").innerText()));
};
