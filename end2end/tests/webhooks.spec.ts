import http from "node:http";
import crypto from "node:crypto";
import type { AddressInfo } from "node:net";
import { test, expect, hydrated, signIn, createKeyspace, createKey } from "./fixtures";

type Delivery = { id: string; timestamp: string; signature: string; body: string };

/** A webhook receiver on 127.0.0.1 that records what it is sent and answers 200. */
async function receiver() {
  const received: Delivery[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({
        id: String(req.headers["webhook-id"] ?? ""),
        timestamp: String(req.headers["webhook-timestamp"] ?? ""),
        signature: String(req.headers["webhook-signature"] ?? ""),
        body,
      });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("thanks");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/locksmith`, received, close: () => server.close() };
}

/** The Standard Webhooks check a receiver makes: HMAC-SHA256 of "id.timestamp.body". */
function signedWith(secret: string, d: Delivery) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto.createHmac("sha256", key).update(`${d.id}.${d.timestamp}.${d.body}`).digest("base64");
  return d.signature.split(" ").some((s) => s === `v1,${expected}`);
}

test.describe("webhooks", () => {
  test("an owner adds an endpoint, revokes a key and sees the signed delivery in the log", async ({ page, problems }) => {
    test.slow();
    const hook = await receiver();
    try {
      await signIn(page, "admin@e2e.test");
      const keyspace = await createKeyspace(page, "hook");
      await page.getByRole("button", { name: "Sign out" }).click();
      await expect(page).toHaveURL(/\/login$/);

      await signIn(page, "owner@e2e.test");
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
      await expect(page).toHaveURL(/\/webhooks$/);
      await hydrated(page);
      // Owners subscribe to their keys' events: no user or keyspace events are offered.
      await page.getByLabel("Every event").uncheck();
      await expect(page.getByLabel("key.revoked")).toBeVisible();
      await expect(page.getByLabel("user.created")).toHaveCount(0);
      await page.getByLabel("Every event").check();
      await page.getByLabel("URL").fill(hook.url);
      await page.getByLabel("Description").fill("My CI pager");
      await page.getByRole("button", { name: "Add endpoint" }).click();
      const secret = await page.getByTestId("new-webhook-secret").getByTestId("secret").inputValue();
      // Their own email preference lives here too; this installation has no SMTP.
      const emails = page.getByTestId("email-preference");
      await expect(emails).toContainText("LOCKSMITH_SMTP_URL");
      expect(secret).toMatch(/^whsec_/);
      const endpoint = page.getByTestId("webhook").filter({ hasText: hook.url });
      await expect(endpoint).toContainText("My CI pager");
      await expect(endpoint.getByTestId("webhook-state")).toHaveText("● enabled");

      // A key of theirs, revoked from its page.
      const name = `hooked-${Date.now()}`;
      const key = await createKey(page, keyspace.id, name);
      await page.goto(`/keys/${key.id}`);
      await hydrated(page);
      await page.getByRole("button", { name: "Revoke" }).click();
      const dialog = page.getByTestId("revoke-dialog");
      await dialog.getByLabel("Reason (recorded in the audit log)").fill("leaked in a log");
      await dialog.getByRole("button", { name: "Revoke key" }).click();
      await expect(page.getByTestId("revoked-notice")).toContainText("leaked in a log");

      // The receiver gets key.created then key.revoked, each signed with the secret
      // (other journeys of the same owner run alongside: only this key's are counted).
      const ours = () => hook.received.filter((d) => JSON.parse(d.body).data?.key_id === key.id);
      await expect.poll(() => ours().map((d) => JSON.parse(d.body).type), { timeout: 15_000 }).toEqual(["key.created", "key.revoked"]);
      const revoked = ours()[1];
      expect(signedWith(secret, revoked)).toBe(true);
      expect(signedWith("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", revoked)).toBe(false);
      const event = JSON.parse(revoked.body);
      expect(event.id).toBe(revoked.id);
      expect(event.data).toMatchObject({ key_id: key.id, name, reason: "leaked in a log" });
      expect(revoked.body).not.toContain(key.secret);

      // The log shows the delivery with its answer (deliveries are recorded just after
      // the receiver answers: refresh until it is there).
      await page.goto("/webhooks");
      await hydrated(page);
      const row = endpoint.getByTestId("delivery").filter({ hasText: "key.revoked" });
      await expect(async () => {
        await page.getByTestId("refresh-webhooks").click();
        await expect(row.getByTestId("delivery-status")).toHaveText("✓ delivered", { timeout: 1_000 });
      }).toPass({ timeout: 15_000 });
      await expect(row.getByTestId("delivery-answer")).toContainText("HTTP 200");
      await row.getByText("Attempts and answer").click();
      await expect(row.getByTestId("delivery-body")).toHaveText("thanks");

      // A test event on demand, and a redelivery of the revocation.
      await endpoint.getByRole("button", { name: "Send test event" }).click();
      await expect.poll(() => hook.received.map((d) => JSON.parse(d.body).type), { timeout: 15_000 }).toContain("webhook.test");
      // Once the log shows it, the list stands still for the redelivery's click.
      await expect(async () => {
        await page.getByTestId("refresh-webhooks").click();
        await expect(endpoint.getByTestId("delivery").filter({ hasText: "webhook.test" }).getByTestId("delivery-status")).toHaveText("✓ delivered", { timeout: 1_000 });
      }).toPass({ timeout: 15_000 });
      await row.getByRole("button", { name: "Redeliver" }).click();
      await expect.poll(() => hook.received.filter((d) => d.id === revoked.id).length, { timeout: 15_000 }).toBe(2);
      // Email preference: off, and still off after a reload (on again for other runs).
      const box = emails.getByRole("checkbox");
      await box.uncheck();
      await page.reload();
      await hydrated(page);
      await expect(page.getByTestId("email-preference").getByRole("checkbox")).not.toBeChecked();
      await page.getByTestId("email-preference").getByRole("checkbox").check();
      await expect(page.getByTestId("email-preference").getByRole("checkbox")).toBeChecked();
      expect(problems.errors).toEqual([]);
    } finally {
      hook.close();
    }
  });
});
