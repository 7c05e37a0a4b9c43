import { execFileSync } from "node:child_process";
import type { Locator, Page } from "@playwright/test";
import { test, expect, hydrated, signIn } from "./fixtures";

/** Presses Tab until `target` has the focus (at most 12 times), then asserts it. */
async function tabUntil(page: Page, target: Locator) {
  for (let i = 0; i < 12 && !(await target.evaluate((e) => e === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(target).toBeFocused();
}

// Runs before every other spec (see playwright.config.ts), on the installation as the
// server script left it: users, and nothing else.
test.describe("first run", () => {
  test("a new admin follows the checklist to a verified key, with the key's own sample call, keyboard only", async ({ page, problems }, testInfo) => {
    test.slow(); // the whole setup of an installation
    await signIn(page, "admin@e2e.test");
    const checklist = page.getByTestId("first-run");
    await expect(checklist).toContainText("0 of 4 done");
    await expect(checklist.getByTestId("first-run-step")).toHaveCount(4);
    await page.screenshot({ path: testInfo.outputPath("first-run.png"), fullPage: true });

    // An empty keys list leads to a keyspace first (a key cannot exist without one).
    await page.goto("/keys");
    await hydrated(page);
    await expect(page.getByTestId("empty-state")).toContainText("create one first");
    await page.getByRole("link", { name: "Create a keyspace" }).click();
    await expect(page).toHaveURL(/\/keyspaces$/);
    await hydrated(page);

    // Step 1 and 2: a keyspace, then a verifier token for the service.
    const prefix = `fr${Date.now().toString(36).slice(-6)}`;
    await page.getByLabel("Name", { exact: true }).fill(`First ${prefix}`);
    await page.getByLabel("Key prefix").fill(prefix);
    await page.getByRole("button", { name: "Create keyspace" }).click();
    const card = page.getByTestId(`keyspace-${prefix}`);
    await expect(card).toBeVisible();
    await page.goto("/");
    await hydrated(page);
    await expect(checklist).toContainText("1 of 4 done");
    await expect(checklist.getByTestId("first-run-step").nth(0)).toHaveAttribute("data-done", "true");
    await page.goto("/keyspaces");
    await hydrated(page);
    await card.getByLabel("New verifier for service").fill("checkout");
    await card.getByRole("button", { name: "Issue token" }).click();
    const token = await page.getByTestId("secret").inputValue();
    expect(token).toMatch(/^lsv_/);

    // Step 3, with the keyboard only: after a navigation focus is on the page's heading,
    // then Tab walks the form; Enter on the button creates the key.
    await page.goto("/keys");
    await hydrated(page);
    await page.getByRole("link", { name: "+ New key" }).click();
    await expect(page).toHaveURL(/\/keys\/new$/, { timeout: 15_000 });
    // The form's data has arrived (the page renders once more when it does, and its
    // heading takes the focus again): only then is the focus where it stays.
    await expect(page.getByLabel("Name", { exact: true })).toBeVisible();
    await expect(page.getByRole("heading", { level: 1, name: "New key" })).toBeFocused();
    await page.keyboard.press("Tab");
    await expect(page.getByLabel("Name", { exact: true })).toBeFocused();
    await page.keyboard.type("Checkout, production");
    await page.keyboard.press("Tab");
    await expect(page.getByLabel("Keyspace")).toBeFocused();
    await page.keyboard.press("Tab");
    await expect(page.getByLabel("Owner", { exact: true })).toBeFocused();
    await page.keyboard.press("Tab");
    await expect(page.getByLabel("Expires (UTC, optional)")).toBeFocused();
    // A date-time field is several stops (day, month, year, time): Tab through them.
    await tabUntil(page, page.getByLabel("Scopes", { exact: true }));
    await page.keyboard.type("orders:read");
    await page.keyboard.press("Tab");
    await expect(page.getByLabel("IP allowlist (optional)")).toBeFocused();
    await page.keyboard.type("203.0.113.0/24");
    const create = page.getByRole("button", { name: "Create key" });
    await tabUntil(page, create);
    await page.keyboard.press("Enter");
    await expect(page.getByTestId("show-once")).toBeVisible();
    await expect(page.getByTestId("secret")).toBeFocused();
    const secret = await page.getByTestId("secret").inputValue();

    // "Test this key": the page's own sample, run for real with the token filled in.
    const sample = await page.getByTestId("test-call-sample").innerText();
    expect(sample).toContain(secret);
    expect(sample).toContain('\\"scopes\\": [\\"orders:read\\"]');
    expect(sample).toContain('\\"client_ip\\": \\"203.0.113.1\\"');
    const script = sample.replace("LOCKSMITH_VERIFIER_TOKEN='…'", `LOCKSMITH_VERIFIER_TOKEN='${token}'`);
    const answer = JSON.parse(execFileSync("sh", ["-c", script], { encoding: "utf8" }));
    expect(answer).toMatchObject({ valid: true, code: "VALID" });

    // A refused call, with its reason in the key's log.
    const refused = await page.request.post("/v1/verify", {
      headers: { Authorization: `Bearer ${token}` },
      data: { key: secret, client_ip: "198.51.100.9" },
    });
    expect((await refused.json()).code).toBe("FORBIDDEN_IP");
    await page.getByTestId("open-key").click();
    await expect(page).toHaveURL(/\/keys\/[0-9a-f-]{36}$/);
    await hydrated(page);
    const log = page.getByTestId("verification-log");
    await expect(async () => {
      await page.reload();
      await expect(log.getByTestId("log-entry")).toHaveCount(2, { timeout: 1_000 });
    }).toPass({ timeout: 15_000 });
    await hydrated(page);
    const forbidden = log.locator('[data-testid="log-entry"][data-code="FORBIDDEN_IP"]');
    await expect(forbidden).toContainText("198.51.100.9");
    await expect(forbidden).toContainText("not in the allowlist");
    await expect(forbidden).toContainText("checkout");
    await log.getByLabel("Show").selectOption("refused");
    await expect(log.getByTestId("log-entry")).toHaveCount(1);
    await page.screenshot({ path: testInfo.outputPath("verification-log.png"), fullPage: true });

    // Every step done: the checklist is gone.
    await page.goto("/");
    await hydrated(page);
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
    await expect(page.getByTestId("first-run")).toHaveCount(0);
    expect(problems.errors).toEqual([]);
  });
});
