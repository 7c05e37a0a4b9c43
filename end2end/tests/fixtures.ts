import { test as base, expect, type Page } from "@playwright/test";

/** Console errors and CSP violations seen by the page; each test asserts there are none. */
type Problems = { errors: string[] };

export const test = base.extend<{ problems: Problems }>({
  problems: async ({ page }, use) => {
    const problems: Problems = { errors: [] };
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.errors.push(msg.text());
    });
    page.on("pageerror", (err) => problems.errors.push(err.message));
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
      );
    });
    await use(problems);
  },
});

/**
 * Waits until the WASM has hydrated the page (the layout flips a data attribute).
 * An event, not a sleep; its budget is generous because the first page of a worker
 * compiles the 3.7 MB debug WASM, which takes several seconds on a loaded 2-core machine.
 */
export async function hydrated(page: Page) {
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1, { timeout: 20_000 });
}

/** The password of every e2e user (created by start-server.sh). */
export const PASSWORD = "e2e correct horse battery";

/** Signs in through the login page and waits for the overview to hydrate. */
export async function signIn(page: Page, email: string, password = PASSWORD) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
}

export { expect };
