// Without worker and assignment the client shows preview.html, no form.
module.exports = async function (page, ctx) {
  await page.goto(ctx.baseUrl + "/" + (ctx.args[0] || ""));
  const p = page.locator("#preview-text");
  await p.waitFor();
  ctx.log("preview: " + (await p.innerText()));
  ctx.log("buttons: " + (await page.locator("#html-task-submit-button").count()));
};
