import { test, expect, hydrated, signIn, createKeyspace, createKey } from "./fixtures";

test.describe("phone width", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("every portal page fits a phone's width without sideways scrolling", async ({ page, problems }, testInfo) => {
    test.slow(); // five pages, each hydrated
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "phone");
    const key = await createKey(page, keyspace.id, "A key with a rather long name for a small screen", {
      "fields[scopes]": "read:orders write:orders",
      "fields[quota_limit]": "1000",
    });
    for (const path of ["/", "/keys", "/keys/new", `/keys/${key.id}`, "/keyspaces", "/audit", "/users"]) {
      await page.goto(path);
      await hydrated(page);
      // Wide content (tables, code) scrolls inside its own box; the page itself does not.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} is ${overflow}px wider than the screen`).toBeLessThanOrEqual(0);
    }
    await page.goto(`/keys/${key.id}`);
    await hydrated(page);
    await page.screenshot({ path: testInfo.outputPath("phone-key.png"), fullPage: true });
    expect(problems.errors).toEqual([]);
  });
});
