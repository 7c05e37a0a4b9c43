import { defineConfig } from "@playwright/test";
import path from "node:path";

// The real server, built by `cargo test` (scripts/test.sh), against a fresh database.
const root = path.resolve(__dirname, "..");
const port = Number(process.env.LOCKSMITH_E2E_PORT ?? 3310);
const baseURL = `http://127.0.0.1:${port}`;
const databaseUrl = process.env.LOCKSMITH_E2E_DATABASE_URL;
/** The password of every user the server script creates (see start-server.sh). */
const E2E_PASSWORD = "e2e correct horse battery";
if (!databaseUrl) {
  throw new Error("LOCKSMITH_E2E_DATABASE_URL is not set: run the suite through scripts/test.sh");
}

export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  forbidOnly: !!process.env.CI,
  retries: process.env.CI ? 2 : 0,
  workers: 2,
  timeout: 30_000,
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [
    // The first-run journey needs the installation as new: it runs before the rest.
    // A retry would find the installation set up by the failed try: none.
    { name: "first-run", testMatch: /first-run\.spec\.ts/, retries: 0, use: { browserName: "chromium" } },
    {
      name: "chromium",
      testIgnore: /first-run\.spec\.ts/,
      dependencies: ["first-run"],
      use: { browserName: "chromium" },
    },
  ],
  webServer: {
    command: `${root}/end2end/start-server.sh`,
    cwd: root,
    // Ready means migrated and connected: wait for that, not for a fixed time.
    url: `${baseURL}/readyz`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      DATABASE_URL: databaseUrl,
      LOCKSMITH_PORT: String(port),
      LOCKSMITH_SITE_ROOT: `${root}/target/site`,
      LOCKSMITH_DATA_DIR: `${root}/target/e2e-data`,
      LOCKSMITH_LOG: "warn",
      // Every test signs in from 127.0.0.1, so the whole suite (retries included) shares
      // one address's sign-in budget: room for all of it.
      LOCKSMITH_AUTH_RATE_LIMIT_BURST: "500",
      E2E_PASSWORD,
    },
  },
});
