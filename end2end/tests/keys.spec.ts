import { test, expect, hydrated, signIn, createKey, createKeyspace } from "./fixtures";

test.describe("keys (admin)", () => {
  test("an admin issues a verifier, creates a key, sees its secret once and verifies with it", async ({ page, context, problems }, testInfo) => {
    test.slow(); // a long journey: more than the default 30 s on a loaded machine
    await context.grantPermissions(["clipboard-read", "clipboard-write"]);
    await signIn(page, "admin@e2e.test");

    // Journey 5: a keyspace, a verifier token shown once, and the curl example.
    await page.goto("/keyspaces");
    await hydrated(page);
    const prefix = `j${Date.now().toString(36).slice(-8)}`;
    await page.getByLabel("Name", { exact: true }).fill(`Journey ${prefix}`);
    await page.getByLabel("Key prefix").fill(prefix);
    await page.getByRole("button", { name: "Create keyspace" }).click();
    const card = page.getByTestId(`keyspace-${prefix}`);
    await expect(card).toBeVisible();
    await card.getByLabel("New verifier for service").fill("orders-service");
    await card.getByRole("button", { name: "Issue token" }).click();
    const token = await page.getByTestId("secret").inputValue();
    expect(token).toMatch(/^lsv_/);
    await expect(card.getByTestId("verifier")).toHaveCount(1);
    await card.getByText("Call /v1/verify from a service").click();
    await expect(card.getByTestId("curl-example")).toContainText("/v1/verify");
    await expect(card.getByTestId("curl-example")).toContainText(`${prefix}_`);
    // Proxies find keys in X-API-Key until the admin chooses Authorization: Bearer.
    await card.getByText("Protect a service with nginx or Envoy").click();
    await expect(card.getByTestId("key-header")).toHaveText("x-api-key: <key>");
    await card.getByLabel("Header that carries keys").fill("Authorization");
    await card.getByRole("button", { name: "Save header" }).click();
    await expect(card.getByTestId("key-header")).toHaveText("Authorization: Bearer <key>");
    await page.screenshot({ path: testInfo.outputPath("keyspaces.png"), fullPage: true });

    // Journey 3: the form names the field in error, then shows the secret once.
    await page.goto("/keys/new");
    await hydrated(page);
    await page.getByLabel("Name", { exact: true }).fill("Checkout service");
    await page.getByLabel("Keyspace").selectOption({ label: `Journey ${prefix} (${prefix}_)` });
    await page.getByLabel("Scopes").fill("read:orders write:orders");
    await page.getByLabel("Quota: credits per period").fill("a thousand");
    await page.getByLabel("Rate limit: verifications per window").fill("100");
    await page.getByLabel("Metadata (JSON object, optional)").fill("{not json");
    await page.getByRole("button", { name: "Create key" }).click();
    // Every error at once, each under its field, with the field's own label.
    const metaError = page.locator("#k-meta-err");
    await expect(metaError).toContainText("Metadata: not valid JSON");
    await expect(page.locator("#k-quota-err")).toContainText("Quota: must be a whole number");
    await expect(page.getByLabel("Metadata (JSON object, optional)")).toHaveAttribute("aria-invalid", "true");
    await page.getByLabel("Quota: credits per period").fill("1000");
    await page.getByLabel("Metadata (JSON object, optional)").fill('{"plan": "pro"}');
    await page.getByRole("button", { name: "Create key" }).click();

    const panel = page.getByTestId("show-once");
    await expect(panel).toContainText("It will not be shown again");
    const secret = await page.getByTestId("secret").inputValue();
    expect(secret.startsWith(`${prefix}_`)).toBe(true);
    await panel.getByRole("button", { name: "Copy" }).click();
    await expect(page.getByTestId("copy-status")).toHaveText("✓ Copied to the clipboard.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await page.screenshot({ path: testInfo.outputPath("key-created.png"), fullPage: true });

    // The secret is in no page the server can render again.
    await page.getByTestId("open-key").click();
    await expect(page).toHaveURL(/\/keys\/[0-9a-f-]{36}$/);
    await hydrated(page);
    expect(await page.content()).not.toContain(secret);
    await expect(page.getByTestId("key-name")).toHaveText("Checkout service");
    await expect(page.getByTestId("quota-text")).toContainText("0 used");

    // A service verifies with it, and a proxy asks about it (the key in Authorization,
    // as the keyspace now says); the key's page shows the traffic and the spent quota.
    for (let i = 0; i < 2; i++) {
      const answer = await page.request.post("/v1/verify", {
        headers: { Authorization: `Bearer ${token}` },
        data: { key: secret, scopes: ["read:orders"] },
      });
      expect((await answer.json()).code).toBe("VALID");
    }
    const proxied = await page.request.get("/v1/authz", {
      headers: { "X-Locksmith-Verifier": token, Authorization: `Bearer ${secret}`, "X-Locksmith-Scopes": "read:orders" },
    });
    expect(proxied.status()).toBe(200);
    expect(proxied.headers()["x-locksmith-scopes"]).toBe("read:orders,write:orders");
    await expect(async () => {
      await page.reload();
      await expect(page.getByTestId("key-usage-chart").getByTestId("chart-readout")).toHaveText("3 verifications in all", { timeout: 1_000 });
    }).toPass({ timeout: 15_000 });
    await hydrated(page);
    await expect(page.getByTestId("quota-text")).toContainText("used");
    const bar = page.getByTestId("key-usage-chart").getByTestId("chart-bar").last();
    await bar.hover();
    await expect(page.getByTestId("key-usage-chart").getByTestId("chart-readout")).toContainText("3 verifications (3 valid)");
    // The refused form above is the one error the browser logged.
    expect(problems.errors.filter((e) => !e.includes("status of 400"))).toEqual([]);
  });

  test("an admin edits, disables, rotates, ends the grace of and revokes a key", async ({ page, problems }, testInfo) => {
    test.slow(); // a long journey: more than the default 30 s on a loaded machine
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "life");
    const key = await createKey(page, keyspace.id, "Lifecycle key", { "fields[scopes]": "read" });
    await page.goto(`/keys/${key.id}`);
    await hydrated(page);

    // Edit: a bad address is named, a good change shows at once.
    await page.getByRole("button", { name: "Edit" }).click();
    await page.getByLabel("IP allowlist").fill("not-an-ip");
    await page.getByRole("button", { name: "Save changes" }).click();
    await expect(page.locator("#e-ips-err")).toContainText("IP allowlist:");
    await page.getByLabel("IP allowlist").fill("10.0.0.0/8");
    await page.getByLabel("Name", { exact: true }).fill("Lifecycle key (edited)");
    await page.getByRole("button", { name: "Save changes" }).click();
    await expect(page.getByTestId("key-name")).toHaveText("Lifecycle key (edited)");
    await expect(page.getByTestId("key-fields")).toContainText("10.0.0.0/8");
    // The key's trail shows what the edit changed, field by field.
    const update = page.getByTestId("key-trail").locator('[data-action="key.update"]');
    await expect(update).toHaveCount(1);
    await update.locator("summary").first().click();
    const nameChange = update.locator('[data-testid="audit-change"][data-path="name"]');
    await expect(nameChange).toHaveAttribute("data-change", "changed");
    await expect(nameChange.locator("del")).toHaveText('"Lifecycle key"');
    await expect(nameChange.locator("ins")).toHaveText('"Lifecycle key (edited)"');
    await expect(update.locator('[data-testid="audit-change"][data-path="ip_allowlist"]')).toHaveAttribute("data-change", "changed");
    await expect(update.getByTestId("audit-unchanged").locator("summary")).toHaveText(/^\d+ fields unchanged$/);
    await expect(update.getByTestId("audit-diff").locator('[data-path="scopes"]')).toHaveCount(0);

    // Disable, then enable, each confirmed in a dialog that Escape can close.
    await page.getByRole("button", { name: "Disable" }).click();
    const toggle = page.getByTestId("toggle-dialog");
    await expect(toggle).toBeVisible();
    // Confirm and Cancel share a row; Escape closes, and focus goes back to the button.
    const [confirmBox, cancelBox] = await Promise.all([
      toggle.getByRole("button", { name: "Disable key" }).boundingBox(),
      toggle.getByRole("button", { name: "Cancel" }).boundingBox(),
    ]);
    expect(Math.abs((confirmBox?.y ?? 0) - (cancelBox?.y ?? 1))).toBeLessThan(4);
    await page.keyboard.press("Escape");
    await expect(toggle).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Disable" })).toBeFocused();
    await page.getByRole("button", { name: "Disable" }).click();
    await toggle.getByRole("button", { name: "Disable key" }).click();
    await expect(page.getByTestId("status-badge").first()).toHaveAttribute("data-status", "disabled");
    await page.getByRole("button", { name: "Enable" }).click();
    await page.getByTestId("toggle-dialog").getByRole("button", { name: "Enable key" }).click();
    await expect(page.getByTestId("status-badge").first()).toHaveAttribute("data-status", "active");

    // Rotate with a day of grace: the page moves to the new key, its secret shown once,
    // with the old key's grace beside it.
    await page.getByRole("button", { name: "Rotate" }).click();
    const rotate = page.getByTestId("rotate-dialog");
    await rotate.getByLabel("Grace period for the old key").selectOption("86400");
    await rotate.getByRole("button", { name: "Rotate key" }).click();
    await expect(page).not.toHaveURL(new RegExp(key.id));
    await expect(page.getByTestId("rotation-result")).toContainText("The old key keeps working until");
    expect(await page.getByTestId("secret").inputValue()).toMatch(new RegExp(`^${keyspace.prefix}_`));
    const grace = page.getByTestId("grace-notice");
    await expect(grace).toContainText(`The key this one replaced, ${key.secret.slice(0, keyspace.prefix.length + 5)}…, still works until`);
    await expect(page.getByTestId("grace-last-used")).toContainText("has not been used");
    await expect(page.getByTestId("status-badge").first()).toHaveAttribute("data-status", "active");
    await page.screenshot({ path: testInfo.outputPath("key-rotated.png"), fullPage: true });

    // End the old key's grace now: the dialog names what will fail before anything happens.
    await grace.getByRole("button", { name: "End grace now" }).click();
    const endGrace = page.getByTestId("end-grace-dialog");
    await expect(endGrace).toContainText(`Calls with ${key.secret.slice(0, keyspace.prefix.length + 5)}… will be refused (EXPIRED)`);
    await expect(endGrace.getByTestId("dialog-last-used")).toHaveText("It has never been used.");
    await endGrace.getByRole("button", { name: "End grace now" }).click();
    await expect(page.getByTestId("grace-notice")).toHaveCount(0);
    await expect(page.getByTestId("status-badge").first()).toHaveAttribute("data-status", "active");

    // The new key: revoke it with a reason.
    await page.getByRole("button", { name: "Revoke" }).click();
    const revoke = page.getByTestId("revoke-dialog");
    // Focus starts in the dialog and stays there.
    const reason = revoke.getByLabel("Reason (recorded in the audit log)");
    await expect(reason).toBeFocused();
    await page.keyboard.press("Shift+Tab");
    await expect(revoke.getByRole("button", { name: "Cancel" })).toBeFocused();
    await page.keyboard.press("Tab");
    await expect(reason).toBeFocused();
    await reason.fill("left the company");
    await revoke.getByRole("button", { name: "Revoke key" }).click();
    await expect(page.getByTestId("revoked-notice")).toContainText("left the company");
    await expect(page.getByRole("button", { name: "Rotate" })).toHaveCount(0);
    await expect(page.getByTestId("key-trail").locator('[data-action="key.revoke"]')).toHaveCount(1);
    await page.screenshot({ path: testInfo.outputPath("key-detail.png"), fullPage: true });
    // The refused edit above is the one error the browser logged.
    expect(problems.errors.filter((e) => !e.includes("status of 400"))).toEqual([]);
  });

  test("an admin searches, filters and revokes selected keys in bulk", async ({ page, problems }, testInfo) => {
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "bulk");
    const stem = `bulk-${Date.now()}`;
    for (const n of [1, 2, 3]) await createKey(page, keyspace.id, `${stem} ${n}`);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys", exact: true }).click();
    await expect(page).toHaveURL(/\/keys$/, { timeout: 15_000 });
    await hydrated(page);
    await page.getByLabel("Search").fill(stem);
    await page.getByLabel("Keyspace").selectOption(keyspace.id);
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect(page).toHaveURL(new RegExp(`q=${stem}`));
    const rows = page.getByTestId("key-row");
    await expect(rows).toHaveCount(3);

    // Disable two, naming them in the confirmation; then enable them again.
    await page.getByLabel(`Select ${stem} 1`).check();
    await page.getByLabel(`Select ${stem} 2`).check();
    await expect(page.getByTestId("selected-count")).toHaveText("2 selected");
    await page.getByRole("button", { name: "Disable selected (2)" }).click();
    const dialog = page.getByTestId("bulk-dialog");
    await expect(dialog.getByRole("heading")).toHaveText("Disable 2 keys?");
    await expect(dialog.getByTestId("bulk-names")).toContainText(`${stem} 1`);
    await expect(dialog.getByTestId("bulk-names")).toContainText(`${stem} 2`);
    await dialog.getByRole("button", { name: "Disable 2 keys" }).click();
    await expect(page.getByTestId("bulk-result")).toHaveText("✓ Disabled 2 keys.");
    await expect(page.locator('[data-testid="key-row"] [data-status="disabled"]')).toHaveCount(2);
    await page.getByLabel(`Select ${stem} 1`).check();
    await page.getByLabel(`Select ${stem} 2`).check();
    await page.getByRole("button", { name: "Enable selected (2)" }).click();
    await dialog.getByRole("button", { name: "Enable 2 keys" }).click();
    await expect(page.getByTestId("bulk-result")).toHaveText("✓ Enabled 2 keys.");
    await expect(page.locator('[data-testid="key-row"] [data-status="active"]')).toHaveCount(3);

    // Revoke them: revoked keys leave the list, which shows live keys unless asked.
    await page.getByLabel(`Select ${stem} 1`).check();
    await page.getByLabel(`Select ${stem} 2`).check();
    await page.getByRole("button", { name: "Revoke selected (2)" }).click();
    await expect(dialog.getByRole("heading")).toHaveText("Revoke 2 keys?");
    await dialog.getByLabel("Reason (recorded in the audit log)").fill("bulk clean-up");
    await dialog.getByRole("button", { name: "Revoke 2 keys" }).click();
    await expect(page.getByTestId("bulk-result")).toHaveText("✓ Revoked 2 keys.");
    await expect(rows).toHaveCount(1);
    await page.getByTestId("status-counts").getByRole("link", { name: /^Show all/ }).click();
    await expect(page).toHaveURL(/all=1/);
    await expect(page.locator('[data-testid="key-row"] [data-status="revoked"]')).toHaveCount(2);
    await expect(page.locator('[data-testid="key-row"] [data-status="active"]')).toHaveCount(1);

    // The status filter narrows to the one left.
    await page.getByLabel("Status", { exact: true }).selectOption("active");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect(page).toHaveURL(/status=active/);
    await expect(rows).toHaveCount(1);
    await expect(rows.first()).toContainText(`${stem} 3`);
    await page.screenshot({ path: testInfo.outputPath("keys-list.png"), fullPage: true });
    expect(problems.errors).toEqual([]);
  });

  test("an admin sorts the keys list by a column, reverses it and pages through in that order", async ({ page, problems }, testInfo) => {
    test.slow(); // 30 keys to set up
    await signIn(page, "admin@e2e.test");
    const keyspace = await createKeyspace(page, "sort");
    const stem = `sort-${Date.now()}`;
    const names = Array.from({ length: 30 }, (_, i) => `${stem} k${String(i + 1).padStart(2, "0")}`);
    // Three keys expire, the last-named soonest; the others never do.
    const expiring: Record<string, string> = {
      [names[29]]: "2099-01-01T00:00",
      [names[14]]: "2099-02-01T00:00",
      [names[0]]: "2099-03-01T00:00",
    };
    for (const name of names) {
      await createKey(page, keyspace.id, name, expiring[name] ? { "fields[expires_at]": expiring[name] } : {});
    }
    await page.goto(`/keys?keyspace_id=${keyspace.id}`);
    await hydrated(page);
    const rows = page.getByTestId("key-row");
    const rowNames = () => rows.locator("a[href^='/keys/']").allTextContents();
    const header = (label: string) => page.getByRole("columnheader", { name: new RegExp(`^${label}`) });
    await expect(header("Created")).toHaveAttribute("aria-sort", "descending");
    await expect(page.getByTestId("order")).toHaveText("Order: newest first");

    // Name: A to Z, then Z to A on a second click, over two pages.
    await header("Name").getByRole("link").click();
    await expect(page).toHaveURL(/sort=name(&|$)/);
    await expect(header("Name")).toHaveAttribute("aria-sort", "ascending");
    await expect(header("Created")).not.toHaveAttribute("aria-sort", /.*/);
    await expect(page.getByTestId("order")).toHaveText("Order: name, A to Z");
    expect(await rowNames()).toEqual(names.slice(0, 25));
    await header("Name").getByRole("link").click();
    await expect(page).toHaveURL(/sort=-name/);
    await expect(header("Name")).toHaveAttribute("aria-sort", "descending");
    const reversed = [...names].reverse();
    await expect(rows.first()).toContainText(names[29]);
    expect(await rowNames()).toEqual(reversed.slice(0, 25));
    await page.getByTestId("next-page").click();
    await expect(page).toHaveURL(/cursor=/);
    await expect(rows).toHaveCount(5);
    expect(await rowNames()).toEqual(reversed.slice(25));
    await expect(header("Name")).toHaveAttribute("aria-sort", "descending");

    // Expires: soonest first, keys that never expire after them.
    await header("Expires").getByRole("link").click();
    await expect(page).toHaveURL(/sort=expires/);
    await expect(page).not.toHaveURL(/cursor=/);
    await expect(page.getByTestId("order")).toHaveText("Order: soonest to expire first");
    await expect(rows.first()).toContainText(names[29]);
    expect((await rowNames()).slice(0, 3)).toEqual([names[29], names[14], names[0]]);

    // Filtering keeps the order.
    await page.getByLabel("Search").fill(`${stem} k1`);
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect(page).toHaveURL(/q=/);
    await expect(page).toHaveURL(/sort=expires/);
    await expect(rows).toHaveCount(10);
    expect((await rowNames())[0]).toBe(names[14]);
    await page.screenshot({ path: testInfo.outputPath("keys-sorted.png"), fullPage: true });
    // Back to the whole list: the form shows no stale search.
    await page.getByRole("link", { name: "Clear" }).click();
    await expect(page).toHaveURL(/\/keys$/);
    await expect(page.getByLabel("Search")).toHaveValue("");
    await expect(page.getByLabel("Keyspace")).toHaveValue("");
    expect(problems.errors).toEqual([]);
  });

  test("the dashboard shows keys by status, both charts and the key lists", async ({ page, problems }, testInfo) => {
    await signIn(page, "admin@e2e.test");
    await expect(page.getByTestId("status-tiles")).toBeVisible();
    await expect(page.getByTestId("chart-24h").getByTestId("chart-bar")).toHaveCount(24);
    await expect(page.getByTestId("chart-30d").getByTestId("chart-bar")).toHaveCount(30);
    for (const list of ["top-keys", "expiring-keys", "quota-alerts"]) {
      await expect(page.getByTestId(list)).toBeVisible();
    }
    // Hover values once hydrated: a bar's numbers replace the total.
    const readout = page.getByTestId("chart-24h").getByTestId("chart-readout");
    await expect(readout).toContainText("verifications in all");
    await page.getByTestId("chart-24h").getByTestId("chart-bar").last().hover();
    await expect(readout).toContainText("UTC:");
    await page.screenshot({ path: testInfo.outputPath("dashboard.png"), fullPage: true });
    expect(problems.errors).toEqual([]);
  });
});
