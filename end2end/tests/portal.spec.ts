import { test, expect, hydrated, signIn } from "./fixtures";

test.describe("portal shell", () => {
  test("renders with the Tailwind styles applied and live data from the database", async ({ page, problems }) => {
    await signIn(page, "admin@e2e.test");
    const response = await page.goto("/");
    expect(response?.status()).toBe(200);
    await expect(page).toHaveTitle("Overview · Locksmith");

    // Styles: the header is painted and the navigation is a flex row (browser default: block).
    const header = page.getByTestId("site-header");
    const background = await header.evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(background).not.toBe("rgba(0, 0, 0, 0)");
    const navDisplay = await page.getByRole("navigation", { name: "Main" }).evaluate((el) => getComputedStyle(el).display);
    expect(navDisplay).toBe("flex");

    // Data read from PostgreSQL by the server.
    await expect(page.getByTestId("postgres-version")).toHaveText(/^Connected · PostgreSQL \d+/);
    await expect(page.getByTestId("instance-id")).toHaveText(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    await hydrated(page);
    expect(problems.errors).toEqual([]);
  });

  test("a page's code is downloaded when the page is visited, not before", async ({ page, problems }) => {
    await signIn(page, "admin@e2e.test");
    const wasm: string[] = [];
    page.on("request", (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith("/pkg/") && path.endsWith(".wasm")) wasm.push(path);
    });
    await page.goto("/");
    await hydrated(page);
    expect(wasm).toContain("/pkg/locksmith.wasm");
    // The Overview needs none of the lazily loaded pages (audit, users, keyspaces, a key,
    // a new key).
    expect(wasm.filter((p) => p.includes("route_view"))).toEqual([]);
    // Opening the audit log fetches its code, then hydrates it: the page works.
    await page.goto("/audit");
    await hydrated(page);
    expect(wasm.some((p) => /split___audit_route_view_\d+\.wasm$/.test(p))).toBe(true);
    expect(wasm.filter((p) => p.includes("route_view") && !p.includes("audit"))).toEqual([]);
    await page.getByRole("button", { name: "Verify chain" }).click();
    await expect(page.getByTestId("chain-status")).toContainText("Intact");
    expect(problems.errors).toEqual([]);
  });

  test("a click works after hydration and asks the server again", async ({ page, problems }, testInfo) => {
    await signIn(page, "admin@e2e.test");
    await page.goto("/");
    await hydrated(page);
    const checkedAt = page.getByTestId("checked-at");
    const before = await checkedAt.getAttribute("datetime");
    await expect(page.getByTestId("check-count")).toHaveText("Checked once");
    await expect(page.getByTestId("status-details")).toHaveAttribute("data-check", "1");

    await page.getByRole("button", { name: "Check again" }).click();
    await expect(page.getByTestId("check-count")).toHaveText("Checked 2 times");
    // The details say which check they answer: wait for the second answer itself.
    await expect(page.getByTestId("status-details")).toHaveAttribute("data-check", "2");
    await expect(checkedAt).not.toHaveAttribute("datetime", before ?? "");
    expect(problems.errors).toEqual([]);

    await page.screenshot({ path: testInfo.outputPath("overview.png"), fullPage: true });
  });

  test("the instance survives a reload (same data)", async ({ page }) => {
    // The installation's status is for admins and auditors.
    await signIn(page, "auditor@e2e.test");
    await page.goto("/");
    const id = await page.getByTestId("instance-id").textContent();
    await page.reload();
    await expect(page.getByTestId("instance-id")).toHaveText(id ?? "");
  });

  test("an unknown page is a designed 404", async ({ page, problems }) => {
    const response = await page.goto("/no/such/page");
    expect(response?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
    await hydrated(page);
    await page.getByRole("link", { name: "Back to the overview" }).click();
    // Not signed in: the overview sends the visitor to sign in.
    await expect(page).toHaveURL(/\/login$/);
    // Chromium reports the 404 document itself as a failed resource; nothing else may fail.
    expect(problems.errors.filter((e) => !e.includes("status of 404 (Not Found)"))).toEqual([]);
  });

  test("navigation is keyboard reachable with a visible skip link", async ({ page }) => {
    await page.goto("/login");
    await hydrated(page);
    await page.keyboard.press("Tab");
    const skip = page.getByRole("link", { name: "Skip to content" });
    await expect(skip).toBeFocused();
    await expect(skip).toBeVisible();
  });
});
