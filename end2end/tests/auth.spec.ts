import { test, expect, hydrated, signIn, PASSWORD } from "./fixtures";

test.describe("signing in and out", () => {
  test("an anonymous visitor is sent to the sign-in page", async ({ page }) => {
    await page.goto("/");
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole("heading", { name: "Sign in to Locksmith" })).toBeVisible();
  });

  test("signing in shows who is signed in; signing out ends the session", async ({ page, problems }, testInfo) => {
    await signIn(page, "admin@e2e.test");
    await expect(page.getByTestId("signed-in-as")).toContainText("admin@e2e.test");
    await expect(page.getByTestId("signed-in-as")).toContainText("admin");
    await page.screenshot({ path: testInfo.outputPath("signed-in.png"), fullPage: true });

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login$/);
    await page.goto("/");
    await expect(page).toHaveURL(/\/login$/, { timeout: 10_000 });
    expect(problems.errors).toEqual([]);
  });

  test("a wrong password is refused with a message", async ({ page }) => {
    await page.goto("/login");
    await hydrated(page);
    await page.getByLabel("Email").fill("owner@e2e.test");
    await page.getByLabel("Password").fill("certainly not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toHaveText("Invalid email or password.");
    await expect(page).toHaveURL(/\/login$/);
  });

  test("repeated failures lock the account, and the page says so", async ({ page }, testInfo) => {
    await page.goto("/login");
    await hydrated(page);
    const email = page.getByLabel("Email");
    const password = page.getByLabel("Password");
    const submit = page.getByRole("button", { name: "Sign in" });
    for (let i = 0; i < 5; i++) {
      await email.fill("locked@e2e.test");
      await password.fill(`wrong password number ${i}`);
      await submit.click();
      await expect(page.getByRole("alert")).toBeVisible();
      await expect(submit).toBeEnabled();
    }
    // Even the right password is refused now.
    await email.fill("locked@e2e.test");
    await password.fill(PASSWORD);
    await submit.click();
    await expect(page.getByRole("alert")).toContainText("Too many failed sign-ins");
    // ...and says when sign-in opens again.
    await expect(page.getByRole("alert")).toContainText(/Sign-in opens again at \d{2}:\d{2} UTC \(in \d+ min\)/);
    await page.screenshot({ path: testInfo.outputPath("locked.png") });
  });
});
