// Open the base URL and print the page's title and text.
module.exports = async function (page, ctx) {
  await page.goto(ctx.baseUrl + "/" + (ctx.args[0] || ""));
  ctx.log("title: " + (await page.title()));
  ctx.log("text: " + (await page.locator("body").innerText()).trim());
};
