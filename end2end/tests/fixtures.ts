import { test as base, expect, type Page } from "@playwright/test";

/** Console errors and CSP violations seen by the page; each test asserts there are none. */
type Problems = { errors: string[]; abortedChunks: number };

export const test = base.extend<{ problems: Problems }>({
  problems: async ({ page }, use) => {
    const problems: Problems = { errors: [], abortedChunks: 0 };
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const text = msg.text();
      // Leaving a page with a full page load while its router is still fetching a lazy
      // page's WASM (for a link it began to follow) aborts that download, and the split
      // loader panics in the page being left. The next page sees nothing of it; only
      // that panic is ignored.
      if (text.includes("Response body loading was aborted")) {
        problems.abortedChunks += 1;
        return;
      }
      if (problems.abortedChunks > 0 && text.includes("SplitLoaderError")) return;
      problems.errors.push(text);
    });
    page.on("pageerror", (err) => {
      // The same panic, as the WASM trap it ends in.
      if (problems.abortedChunks > 0 && err.message.includes("unreachable")) return;
      problems.errors.push(err.message);
    });
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
      );
    });
    await use(problems);
  },
});

/**
 * Waits until the WASM has hydrated the page, the current page's lazily loaded code
 * included (the entry point marks `<body>`). An event, not a sleep; its budget is generous
 * because the first page of a worker compiles the debug WASM, which takes several seconds
 * on a loaded 2-core machine.
 */
export async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1, { timeout: 20_000 });
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

/**
 * Calls a portal server function as the signed-in page would (same cookie, same
 * origin), for setting up data a journey starts from. Fails the test on an error answer.
 */
export async function serverFn(page: Page, name: string, form: Record<string, string>) {
  const origin = new URL(page.url()).origin;
  const response = await page.request.post(`/api/${name}`, {
    form,
    headers: { Origin: origin, Accept: "application/json" },
  });
  expect(response.status(), await response.text()).toBe(200);
  return response.json();
}

/** A keyspace prefix unique to this run: 2 to 12 of [a-z0-9]. */
export function uniquePrefix(stem: string) {
  return `${stem}${Date.now().toString(36).slice(-6)}${Math.floor(Math.random() * 36).toString(36)}`.slice(0, 12);
}

/** Creates a keyspace through the portal's server function; returns its id and prefix. */
export async function createKeyspace(page: Page, stem: string) {
  const prefix = uniquePrefix(stem);
  const keyspace = await serverFn(page, "create_keyspace", { name: `Keyspace ${prefix}`, prefix });
  return { id: keyspace.id as string, prefix };
}

/** Creates a key through the portal's server function; returns its id and secret. */
export async function createKey(page: Page, keyspaceId: string, name: string, extra: Record<string, string> = {}) {
  const created = await serverFn(page, "create_key", {
    keyspace_id: keyspaceId,
    "fields[name]": name,
    "fields[scopes]": "",
    "fields[expires_at]": "",
    "fields[ip_allowlist]": "",
    "fields[quota_limit]": "",
    "fields[quota_period]": "month",
    "fields[rate_limit]": "",
    "fields[rate_window]": "60",
    "fields[meta]": "",
    ...extra,
  });
  return { id: created.key.id as string, secret: created.secret as string };
}
