// A worker the pool turns away sees the reason.
module.exports = async function (page, ctx) {
  await page.goto(ctx.baseUrl + "/?worker_id=" + ctx.args[0] + "&assignment_id=a1");
  const b = page.locator("#mephisto-blocked");
  await b.waitFor();
  ctx.log("blocked: " + (await b.innerText()));
  ctx.log("buttons: " + (await page.locator("#html-task-submit-button").count()));
};
