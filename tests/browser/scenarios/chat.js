// One worker of the two-worker chat example (share/mephisto/examples/chat).
// args: DIR ME OTHER [MODE].  Hand-shakes through files in DIR:
// ME-ready once in task, ME-got once the partner's message arrived.
// MODE "submit" (default): say hello, hear the partner, submit.
// MODE "leave": say hello, hear the partner, then close the page.
// MODE "stay": say hello, hear the partner, then wait for the status
// "partner disconnect".
// MODE "refresh": leave the page once both are in task (ME-away), come
// back by the same link after the partner spoke (OTHER-said), get what
// was said meanwhile, answer, submit.  MODE "late": the partner of
// "refresh", who speaks only once the other has left.
const path = require("path");
module.exports = async function (page, ctx) {
  const [dir, me, other, mode = "submit"] = ctx.args;
  const f = (name) => path.join(dir, name);
  const url = ctx.baseUrl;
  await page.goto(url);
  const agent = await page.locator("#agent").innerText();
  ctx.log("agent: " + agent);
  await page.locator("#status").filter({ hasText: /^in task$/ }).waitFor();
  await page.locator("#connection").filter({ hasText: "connected" }).waitFor();
  ctx.log("status: in task");
  ctx.touch(f(me + "-ready"));
  await ctx.waitForFile(f(other + "-ready"));
  const say = async () => {
    await page.fill("#text", "hello from " + me);
    await page.click("#send");
    ctx.touch(f(me + "-said"));
  };
  const hear = async () => {
    await page.locator("#messages li", { hasText: "partner: hello from " + other }).waitFor();
    ctx.log("heard: hello from " + other);
  };
  if (mode === "refresh") {
    await page.goto("about:blank");
    ctx.touch(f(me + "-away"));
    await ctx.waitForFile(f(other + "-said"));
    await page.goto(url);
    const again = await page.locator("#agent").innerText();
    ctx.log("same agent: " + (again === agent));
    await hear();
    await say();
  } else {
    if (mode === "late") await ctx.waitForFile(f(other + "-away"));
    await say();
    await hear();
  }
  ctx.touch(f(me + "-got"));
  if (mode === "leave") {
    await page.close();
    return;
  }
  if (mode === "stay") {
    await page.locator("#status").filter({ hasText: "partner disconnect" }).waitFor({ timeout: 40000 });
    ctx.log("status: partner disconnect");
    return;
  }
  await ctx.waitForFile(f(other + "-got"));
  await page.click("#submit");
  // The mock provider's wrap_crowd_source.js confirms with an alert once
  // /submit_task has answered (the pool committed the submission).
  const end = Date.now() + 30000;
  while (!ctx.console.some((l) => l.startsWith("dialog: The task has been submitted"))) {
    if (Date.now() > end) throw new Error("no submission confirmed");
    await new Promise((r) => setTimeout(r, 50));
  }
  ctx.log("submitted");
};
