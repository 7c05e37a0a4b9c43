import { test, expect, hydrated, signIn, createKeyspace, createKey } from "./fixtures";

test.describe("leaked keys and unusual use", () => {
  test("an owner pastes a leaked key, sees it is theirs and revokes it from the result", async ({ page, problems }, testInfo) => {
    test.slow();
    // An admin prepares a keyspace and a key of their own (not the owner's).
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "leak");
    const stamp = `leak-${Date.now()}`;
    const admins = await createKey(page, keyspace.id, `${stamp} admin key`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login$/);

    await signIn(page, "owner@e2e.test");
    const mine = await createKey(page, keyspace.id, `${stamp} my key`);
    await page.goto("/keys");
    await hydrated(page);
    await page.getByTestId("check-key-link").click();
    await expect(page).toHaveURL(/\/keys\/check$/);
    await hydrated(page);
    await expect(page.getByRole("heading", { name: "Is this my key?" })).toBeVisible();

    // Another owner's key, an unknown one and garbage get one answer.
    const notMine = "Not a key of yours: no live key you may see has this secret.";
    const field = page.getByLabel("The key");
    await expect(field).toHaveAttribute("type", "password");
    for (const other of [admins.secret, `${keyspace.prefix}_${"A".repeat(30)}`, "hello world"]) {
      await field.fill(other);
      await page.getByRole("button", { name: "Check" }).click();
      await expect(page.getByTestId("check-result")).toHaveAttribute("data-found", "false");
      await expect(page.getByTestId("check-result")).toHaveText(notMine);
    }
    expect(page.url()).not.toContain(admins.secret);

    // Their own key: found, with one-click revoke.
    await field.fill(mine.secret);
    await page.getByRole("button", { name: "Check" }).click();
    const result = page.getByTestId("check-result");
    await expect(result).toHaveAttribute("data-found", "true");
    await expect(result).toContainText(`${stamp} my key`);
    await expect(result.getByTestId("status-badge")).toHaveAttribute("data-status", "active");
    await page.screenshot({ path: testInfo.outputPath("is-this-my-key.png"), fullPage: true });
    await page.getByTestId("revoke-found").click();
    await expect(page.getByTestId("revoked-here")).toContainText("Revoked");
    await expect(result.getByTestId("status-badge")).toHaveAttribute("data-status", "revoked");
    expect(page.url()).not.toContain(mine.secret);

    // The key page says so, with the reason.
    await page.getByTestId("found-link").click();
    await expect(page).toHaveURL(new RegExp(`/keys/${mine.id}$`));
    await hydrated(page);
    await expect(page.getByTestId("revoked-notice")).toContainText("Is this my key?");
    expect(problems.errors).toEqual([]);
  });

  test("a reported leak shows on the overview and the key page, and is acknowledged", async ({ page, problems }, testInfo) => {
    test.slow();
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "rep");
    const stamp = `reported-${Date.now()}`;
    const key = await createKey(page, keyspace.id, `${stamp} key`);

    // The admin issues a leak-reporter token on the keyspaces page (shown once).
    await page.goto("/keyspaces");
    await hydrated(page);
    const reporters = page.getByTestId("leak-reporters");
    await expect(reporters).toContainText("Leak reporters");
    await reporters.getByLabel("New leak reporter").fill(`${stamp} scanner`);
    await reporters.getByRole("button", { name: "Issue token" }).click();
    const token = await reporters.getByTestId("secret").inputValue();
    expect(token.startsWith("lsl_")).toBe(true);
    await expect(reporters.getByTestId("leak-reporter").filter({ hasText: `${stamp} scanner` })).toHaveCount(1);

    // The keyspace's leak policy is set on its card, and stays "notify".
    const card = page.getByTestId(`keyspace-${keyspace.prefix}`);
    await card.getByText("When a key leaks or is used unusually").click();
    await expect(card.getByTestId("policy-summary")).toContainText("left working");

    // A scanner reports the key.
    const answer = await page.request.post("/v1/leaks", {
      headers: { Authorization: `Bearer ${token}` },
      data: { items: [{ key: key.secret, url: "https://paste.example/raw/abc", source: "paste" }] },
    });
    expect(answer.status()).toBe(200);
    expect((await answer.json()).items[0].label).toBe("true_positive");

    // The overview asks for attention.
    await page.goto("/");
    await hydrated(page);
    const attention = page.getByTestId("needs-attention");
    const finding = attention.getByTestId("finding").filter({ hasText: `${stamp} key` });
    await expect(finding).toHaveCount(1);
    await expect(finding.getByTestId("finding-title")).toHaveText("Reported as leaked");
    await expect(finding.getByTestId("finding-severity")).toContainText("high");

    // The key page shows the evidence; acknowledging it ends the attention.
    await page.goto(`/keys/${key.id}`);
    await hydrated(page);
    const onKey = page.getByTestId("key-findings").getByTestId("finding");
    await expect(onKey).toHaveCount(1);
    await expect(onKey.getByTestId("finding-summary")).toContainText(`reporter:${stamp} scanner`);
    await expect(onKey.getByTestId("finding-summary")).toContainText("https://paste.example/raw/abc");
    await page.screenshot({ path: testInfo.outputPath("key-finding.png"), fullPage: true });
    await onKey.getByTestId("acknowledge").click();
    await expect(onKey.getByTestId("finding-acknowledged")).toContainText("acknowledged");
    await expect(onKey.getByTestId("acknowledge")).toHaveCount(0);

    await page.goto("/");
    await hydrated(page);
    await expect(page.getByTestId("finding").filter({ hasText: `${stamp} key` })).toHaveCount(0);
    expect(problems.errors).toEqual([]);
  });
});
