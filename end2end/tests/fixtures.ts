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

/** Waits until the WASM has hydrated the page (the layout flips a data attribute). */
export async function hydrated(page: Page) {
  await expect(page.locator('[data-hydrated="true"]')).toHaveCount(1);
}

export { expect };
