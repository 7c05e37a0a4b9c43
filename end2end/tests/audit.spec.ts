import { test, expect, hydrated, signIn } from "./fixtures";

test.describe("audit log (admin, auditor)", () => {
  test("an admin filters the log, reads a change and verifies the chain", async ({ page, problems }, testInfo) => {
    await signIn(page, "admin@e2e.test");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
    // A client-side navigation commits its URL once the new page's data has arrived, which
    // on a loaded CI machine can take longer than the default 5 s.
    await expect(page).toHaveURL(/\/audit$/, { timeout: 15_000 });
    await hydrated(page);

    // The users created by the start-up script are there, with their state after.
    const created = page.locator('[data-testid="audit-entry"][data-action="user.create"]');
    await expect(created.first()).toBeVisible();
    // Targets and actors by name, linked, not as raw ids.
    await expect(created.first().getByTestId("audit-target")).toContainText("@e2e.test");
    await expect(page.locator('[data-testid="audit-entry"][data-action="user.login"]').first().getByTestId("audit-actor")).toHaveAttribute("href", /\/audit\?actor_id=/);

    // Hiding sign-ins leaves the rest.
    await page.getByLabel("Hide sign-ins and sign-outs").check();
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/hide_sign_ins=1/);
    await expect(page.locator('[data-testid="audit-entry"][data-action="user.login"]')).toHaveCount(0);
    await expect(created.first()).toBeVisible();
    await page.getByLabel("Hide sign-ins and sign-outs").uncheck();

    await page.getByLabel("Action").selectOption("user.login");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/action=user\.login/);
    // The previous list stays on screen while the filtered one loads: wait for the
    // filtered state itself, not for the first entry.
    await expect(page.locator('[data-testid="audit-entry"]:not([data-action="user.login"])')).toHaveCount(0);
    await expect(page.locator('[data-testid="audit-entry"][data-action="user.login"]').first()).toBeVisible();

    // The filtered view as CSV: the same entries, nothing else.
    const download = page.waitForEvent("download");
    await page.getByRole("link", { name: "Export CSV" }).click();
    const csvPath = await (await download).path();
    const csv = (await import("node:fs")).readFileSync(csvPath, "utf8");
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("id,at,actor,action,target,source_ip,request_id,client_request_id,before,after,hash,prev_hash");
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines.slice(1)) {
      expect(line).toContain(",user.login,");
      expect(line).toMatch(/,[0-9a-f]{64},[0-9a-f]{64}$/);
    }

    await page.getByRole("link", { name: "Clear" }).click();
    await expect(page).toHaveURL(/\/audit$/);
    // The form follows the URL: no filter is left showing that no longer applies.
    await expect(page.getByLabel("Action")).toHaveValue("");
    const entry = page.locator('[data-testid="audit-entry"][data-action="user.create"]').first();
    await entry.locator("summary").first().click();
    // A creation: every field is added, with its value after.
    const role = entry.locator('[data-testid="audit-change"][data-path="role"]');
    await expect(role).toHaveAttribute("data-change", "added");
    await expect(role.locator("ins")).toHaveText(/^"(admin|auditor|owner)"$/);
    await expect(role.locator("del")).toHaveCount(0);
    await entry.getByText("Raw before and after (JSON)").click();
    await expect(entry.getByTestId("audit-raw").getByText("After", { exact: true })).toBeVisible();
    await expect(entry.getByTestId("audit-raw").locator("pre").nth(1)).toContainText('"role"');

    await page.getByRole("button", { name: "Verify chain" }).click();
    await expect(page.getByTestId("chain-status")).toContainText("Intact");
    await page.screenshot({ path: testInfo.outputPath("audit.png"), fullPage: true });
    expect(problems.errors).toEqual([]);
  });

  test("an owner is kept out of the audit log", async ({ page }) => {
    await signIn(page, "owner@e2e.test");
    await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" })).toHaveCount(0);
    const response = await page.goto("/audit");
    expect(response?.status()).toBe(403);
    await expect(page.getByTestId("audit-entries")).toHaveCount(0);
  });
});
