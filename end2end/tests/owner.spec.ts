import { test, expect, hydrated, signIn, createKeyspace, createKey } from "./fixtures";

test.describe("owner self-service", () => {
  test("an owner sees only their keys, creates one within their policy and is refused admin pages", async ({ page, problems }, testInfo) => {
    // A long journey through two sessions: more than the default 30 s on a loaded machine.
    test.slow();
    // An admin prepares a keyspace and a key of their own.
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "own");
    const stamp = `own-${Date.now()}`;
    await createKey(page, keyspace.id, `${stamp} admin key`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login$/);

    await signIn(page, "owner@e2e.test");
    const nav = page.getByRole("navigation", { name: "Main" });
    await expect(nav.getByRole("link", { name: "Keys", exact: true })).toBeVisible();
    for (const adminOnly of ["Users", "Keyspaces", "Audit log", "Readiness", "Metrics"]) {
      await expect(nav.getByRole("link", { name: adminOnly })).toHaveCount(0);
    }
    // The overview shows their keys, not the installation's internals.
    await hydrated(page);
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
    await expect(page.getByRole("heading", { name: "System status" })).toHaveCount(0);
    await expect(page.getByTestId("instance-id")).toHaveCount(0);

    // The admin's key is not theirs to see.
    await page.goto(`/keys?q=${stamp}`);
    await hydrated(page);
    await expect(page.getByTestId("empty-state")).toContainText("No keys match");
    await expect(page.getByLabel("Owner")).toHaveCount(0);

    // Their policy is shown before they hit it; then they create a key.
    await page.getByRole("link", { name: "+ New key" }).click();
    await expect(page).toHaveURL(/\/keys\/new$/, { timeout: 15_000 });
    await hydrated(page);
    await expect(page.getByTestId("owner-policy")).toContainText("Your policy");
    await expect(page.getByLabel("Owner")).toHaveCount(0);
    // Expiry, quota and rate limit are an admin's to set: shown, not offered.
    await expect(page.getByTestId("owner-limits")).toContainText("An admin sets them; you cannot change them.");
    await expect(page.getByTestId("fixed-limits")).toBeVisible();
    await expect(page.getByLabel("Quota: credits per period")).toHaveCount(0);
    await expect(page.getByLabel("Expires (UTC, optional)")).toHaveCount(0);
    await page.getByLabel("Name", { exact: true }).fill(`${stamp} my key`);
    await page.getByLabel("Keyspace").selectOption({ label: `Keyspace ${keyspace.prefix} (${keyspace.prefix}_)` });
    await page.getByRole("button", { name: "Create key" }).click();
    await expect(page.getByTestId("show-once")).toBeVisible();
    await page.getByTestId("open-key").click();
    await hydrated(page);
    await expect(page.getByTestId("key-name")).toHaveText(`${stamp} my key`);
    await expect(page.getByRole("button", { name: "Rotate" })).toBeVisible();

    await page.goto(`/keys?q=${stamp}`);
    await expect(page.getByTestId("key-row")).toHaveCount(1);
    await expect(page.getByTestId("key-row")).toContainText("my key");
    await page.screenshot({ path: testInfo.outputPath("owner-keys.png"), fullPage: true });

    expect(problems.errors).toEqual([]);

    // Admin-only pages and server functions refuse them.
    const response = await page.goto("/keyspaces");
    expect(response?.status()).toBe(403);
    const refused = await page.request.post("/api/list_keyspaces", {
      headers: { Origin: new URL(page.url()).origin, Accept: "application/json" },
    });
    expect(refused.status()).toBe(403);
    const create = await page.request.post("/api/create_keyspace", {
      form: { name: "Not mine", prefix: "notmine" },
      headers: { Origin: new URL(page.url()).origin, Accept: "application/json" },
    });
    expect(create.status()).toBe(403);
  });
});
