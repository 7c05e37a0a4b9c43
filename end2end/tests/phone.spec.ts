import { test, expect, hydrated, signIn, createKeyspace, createKey } from "./fixtures";

test.describe("phone width", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("every portal page fits a phone's width without sideways scrolling", async ({ page, problems }, testInfo) => {
    test.slow(); // eight pages, each hydrated
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "phone");
    const key = await createKey(page, keyspace.id, "A key with a rather long name for a small screen", {
      "fields[scopes]": "read:orders write:orders",
      "fields[quota_limit]": "1000",
    });
    for (const path of ["/", "/keys", "/keys/new", `/keys/${key.id}`, "/keyspaces", "/audit", "/users", "/webhooks"]) {
      await page.goto(path);
      await hydrated(page);
      // Wide content (code) scrolls inside its own box; the page itself does not.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} is ${overflow}px wider than the screen`).toBeLessThanOrEqual(0);
    }
    expect(problems.errors).toEqual([]);
  });

  test("on a phone the navigation is a menu, filters fold away and keys are cards", async ({ page, problems }, testInfo) => {
    test.slow();
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "card");
    const key = await createKey(page, keyspace.id, `Phone card ${Date.now()}`, { "fields[quota_limit]": "500" });
    await page.screenshot({ path: testInfo.outputPath("phone-overview.png"), fullPage: true });

    // The navigation folds behind a Menu button.
    const nav = page.getByRole("navigation", { name: "Main" });
    await expect(nav).toBeHidden();
    const menu = page.getByTestId("menu-button");
    await expect(menu).toHaveAttribute("aria-expanded", "false");
    await menu.click();
    await expect(nav).toBeVisible();
    await nav.getByRole("link", { name: "Keys", exact: true }).click();
    await expect(page).toHaveURL(/\/keys$/, { timeout: 15_000 });
    await hydrated(page);
    await expect(nav).toBeHidden();
    // After the navigation, focus is on the new page's heading.
    await expect(page.getByRole("heading", { level: 1, name: "Keys" })).toBeFocused();

    // Search and filters behind a toggle; each key a card of labelled lines.
    await expect(page.getByLabel("Search")).toBeHidden();
    await page.getByTestId("filters-toggle").click();
    await expect(page.getByLabel("Search")).toBeVisible();
    const card = page.locator(`[data-testid="key-row"][data-key-id="${key.id}"]`);
    await expect(card).toBeVisible();
    await expect(card.getByTestId("quota-cell")).toContainText("Quota");
    await expect(page.locator("thead")).toBeHidden();
    // Tap targets: at least 24 by 24 px.
    for (const target of [menu, page.getByTestId("filters-toggle"), card.getByRole("checkbox"), card.getByRole("link").first()]) {
      const box = await target.boundingBox();
      expect(box?.height ?? 0, await target.evaluate((e) => e.outerHTML.slice(0, 80))).toBeGreaterThanOrEqual(24);
      expect(box?.width ?? 0).toBeGreaterThanOrEqual(24);
    }
    await page.screenshot({ path: testInfo.outputPath("phone-keys.png"), fullPage: true });

    await card.getByRole("link").first().click();
    await expect(page).toHaveURL(new RegExp(`/keys/${key.id}$`), { timeout: 15_000 });
    await hydrated(page);
    await expect(page.getByTestId("key-name")).toBeVisible();
    await page.screenshot({ path: testInfo.outputPath("phone-key.png"), fullPage: true });
    expect(problems.errors).toEqual([]);
  });
});
