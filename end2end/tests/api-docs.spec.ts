import { test, expect } from "./fixtures";

test.describe("API reference (/docs)", () => {
  test("renders every documented endpoint from Locksmith's own assets, within its CSP", async ({ page, problems }, testInfo) => {
    const origin = String(testInfo.project.use.baseURL);
    const external: string[] = [];
    page.on("request", (req) => {
      const url = req.url();
      if (!url.startsWith(origin) && !url.startsWith("data:")) external.push(url);
    });
    await page.goto("/docs");
    await expect(page.locator("body[data-docs-ready='true']")).toHaveCount(1);
    await expect(page.getByRole("heading", { name: /Locksmith API/ })).toBeVisible();
    // Operations of the key engine are listed, and one expands to its schema.
    const rotate = page.locator(".opblock-summary-path", { hasText: "/v1/keys/{id}/rotate" });
    await expect(rotate).toBeVisible();
    await rotate.click();
    // Its request body example shows the contract's field.
    await expect(page.locator(".opblock.is-open .body-param__example").first()).toContainText("grace_seconds");
    await expect(page.locator(".opblock-summary-path", { hasText: "/v1/keyspaces/{id}/verifiers" }).first()).toBeVisible();
    await page.screenshot({ path: testInfo.outputPath("api-docs.png"), fullPage: false });
    expect(external).toEqual([]);
    expect(problems.errors).toEqual([]);
  });
});
