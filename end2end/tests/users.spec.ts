import { test, expect, hydrated, signIn, PASSWORD } from "./fixtures";

test.describe("users (admin)", () => {
  test("an admin creates an owner, who then signs in", async ({ page, problems }, testInfo) => {
    const email = `owner-${testInfo.retry}-${Date.now()}@e2e.test`;
    await signIn(page, "admin@e2e.test");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
    await expect(page).toHaveURL(/\/users$/);
    await hydrated(page);

    await page.getByLabel("Email", { exact: true }).fill(email);
    // The password rules are there before the first try.
    await expect(page.getByTestId("password-rules")).toContainText("At least 12 characters");
    await page.getByLabel("Initial password").fill(PASSWORD);
    await page.getByLabel("Role", { exact: true }).selectOption("owner");
    await page.getByLabel("Key limit (owners; empty: none)").fill("3");
    await page.getByLabel("Allowed scopes (comma-separated; empty: any)").fill("read:orders, write:orders");
    await page.getByRole("button", { name: "Create user" }).click();

    await expect(page.getByRole("status")).toHaveText(`Created ${email}.`);
    await expect(page.getByLabel("Initial password")).toHaveValue("");
    const row = page.locator(`[data-testid="user-row"][data-email="${email}"]`);
    await expect(row).toContainText("up to 3 keys · read:orders, write:orders");
    await expect(row).toContainText("Active");

    // The policy can be changed later, the limits of the owner's keys included.
    await row.getByTestId("policy").click();
    await row.getByLabel("Key limit").fill("5");
    await row.getByLabel("Max quota").fill("1000");
    await row.getByLabel("Max key lifetime (30d, 12h)").fill("30d");
    await row.getByRole("button", { name: "Save policy" }).click();
    await expect(row.getByTestId("policy")).toHaveText(
      "up to 5 keys · read:orders, write:orders · quota ≤ 1000 a month · keys live ≤ 30 days · limits set by admins",
    );
    await page.screenshot({ path: testInfo.outputPath("users.png"), fullPage: true });
    expect(problems.errors).toEqual([]);

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login$/);
    await signIn(page, email);
    await expect(page.getByTestId("signed-in-as")).toContainText(email);
    // The owner reads their keys' limits where they create one, without a field to change them.
    await page.goto("/keys/new");
    await hydrated(page);
    await expect(page.getByTestId("owner-limits")).toContainText("quota at most 1000 a month");
    await expect(page.getByTestId("owner-limits")).toContainText("keys expire within 30 days");
    await expect(page.getByLabel("Quota: credits per period")).toHaveCount(0);
    await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" })).toHaveCount(0);
  });

  test("an invalid user is refused with a message naming the field", async ({ page }) => {
    await signIn(page, "admin@e2e.test");
    await page.goto("/users");
    await hydrated(page);
    await page.getByLabel("Email", { exact: true }).fill(`weak-${Date.now()}@e2e.test`);
    await page.getByLabel("Initial password").fill("password1234");
    await page.getByRole("button", { name: "Create user" }).click();
    await expect(page.getByTestId("create-error")).toContainText("password:");
  });

  test("an auditor reads the users list and cannot change it", async ({ page, problems }) => {
    await signIn(page, "auditor@e2e.test");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
    await expect(page).toHaveURL(/\/users$/);
    await hydrated(page);
    await expect(page.getByTestId("read-only")).toBeVisible();
    const admin = page.locator('[data-testid="user-row"][data-email="admin@e2e.test"]');
    await expect(admin.getByTestId("role")).toHaveText("admin");
    await expect(admin).toContainText("Active");
    await expect(page.getByRole("button", { name: "Create user" })).toHaveCount(0);
    await expect(page.getByRole("button", { name: /^(Disable|Enable|Save|Save policy)$/ })).toHaveCount(0);
    expect(problems.errors).toEqual([]);
  });

  test("an owner is kept out of the users page", async ({ page }) => {
    await signIn(page, "owner@e2e.test");
    await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" })).toHaveCount(0);
    const response = await page.goto("/users");
    expect(response?.status()).toBe(403);
    await expect(page.getByRole("heading", { name: "You do not have access to this page" })).toBeVisible();
    await expect(page.getByTestId("users-table")).toHaveCount(0);
  });
});
