// The refresh cookie in a real browser: headless Chromium signs in on the devserver's /demo page
// and checks what only a browser enforces (HttpOnly, Path, SameSite):
//   - page scripts cannot read the cookie;
//   - the browser sends it to /api/v1/auth/* and nowhere else;
//   - it rotates on every refresh and survives a reload (the page signs itself back in with it);
//   - logout removes it, and a reload then shows the signed-out page.
//
// infra/browser/run starts the devserver and Chromium's dependencies and runs this with
// AUTH_API_URL, MAIL_DIR, CHROMIUM and SCREENSHOT set.

import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";

import { chromium } from "playwright-core";

const baseUrl = required("AUTH_API_URL");
const mailDir = required("MAIL_DIR");
const executablePath = required("CHROMIUM");
const screenshot = required("SCREENSHOT");
const AUTH_PATH = "/api/v1/auth/";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} (infra/browser/run sets it)`);
  return value;
}

async function api(path, body) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, data: await response.json() };
}

async function mailedToken(recipient, linkPath) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const names = (await readdir(mailDir).catch(() => [])).filter((name) => name.endsWith(".eml"));
    for (const name of names) {
      const mail = await readFile(join(mailDir, name), "utf8");
      const found = new RegExp(`${linkPath}\\?token=([A-Za-z0-9_-]+)`).exec(mail);
      if (found && mail.toLowerCase().includes(`to: ${recipient}`)) return found[1];
    }
    if (Date.now() > deadline) throw new Error(`no ${linkPath} mail to ${recipient} in ${mailDir}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A verified account, made through the API as a user would. */
async function verifiedAccount() {
  const email = "jane@example.com";
  const password = "Str0ng-Passw0rd!";
  const registered = await api("/api/v1/auth/register", { email, username: "jane", password });
  assert.equal(registered.status, 201, JSON.stringify(registered.data));
  const verified = await api("/api/v1/auth/verify-email", { token: await mailedToken(email, "/verify-email") });
  assert.equal(verified.data.verified, true);
  return { email, password };
}

/** Waits until the page shows the signed-in view or the sign-in form, and only that. */
async function shows(page, view) {
  const [shown, hidden] = view === "account" ? ["#account", "#sign-in"] : ["#sign-in", "#account"];
  await page.locator(shown).waitFor({ state: "visible" });
  assert.equal(await page.locator(hidden).isVisible(), false, `${hidden} is visible next to ${shown}`);
}

async function refreshCookie(context) {
  return (await context.cookies()).find((cookie) => cookie.name === "refresh_token");
}

test("the refresh cookie is HttpOnly, sent only to /api/v1/auth, rotates, survives a reload and ends at logout", async (t) => {
  const account = await verifiedAccount();
  const browser = await chromium.launch({
    executablePath,
    // No background traffic: this machine reaches nothing but 127.0.0.1.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));

  // Every request the page makes, and whether it carried the refresh cookie.
  const sent = [];
  const reading = [];
  page.on("request", (request) => {
    reading.push(request.allHeaders().then((headers) => {
      sent.push({ path: new URL(request.url()).pathname, withCookie: /(^|;\s*)refresh_token=/.test(headers.cookie ?? "") });
    }));
  });

  await page.goto(`${baseUrl}/demo?refresh=2`);
  await shows(page, "sign-in");
  assert.equal(await refreshCookie(context), undefined, "no cookie before signing in");

  await page.fill("#email", account.email);
  await page.fill("#password", account.password);
  await page.click("#sign-in-button");
  await shows(page, "account");
  assert.equal(await page.textContent("#username"), "jane");

  // HttpOnly: the browser holds the cookie, page scripts cannot see it.
  const signedIn = await refreshCookie(context);
  assert.ok(signedIn, "the login set the refresh cookie");
  assert.equal(signedIn.httpOnly, true);
  assert.equal(signedIn.path, "/api/v1/auth");
  assert.equal(signedIn.sameSite, "Lax");
  assert.doesNotMatch(await page.evaluate(() => document.cookie), /refresh_token/);

  // The timer refreshes: the cookie rotates and the page stays signed in.
  await page.waitForFunction(() => Number(document.getElementById("refreshes").textContent) >= 2, null, { timeout: 15_000 });
  const rotated = await refreshCookie(context);
  assert.ok(rotated);
  assert.notEqual(rotated.value, signedIn.value, "a refresh rotates the cookie");
  assert.equal(await page.textContent("#status"), "Signed in");

  // A reload loses the in-memory access token; the cookie brings the session back.
  await page.reload();
  await shows(page, "account");
  assert.equal(await page.textContent("#username"), "jane");
  const afterReload = await refreshCookie(context);
  assert.ok(afterReload, "the cookie survives a reload");
  assert.notEqual(afterReload.value, rotated.value, "the reload's refresh rotated it again");
  await page.screenshot({ path: screenshot });

  // Path=/api/v1/auth: sent with the refreshes, never with the page, its files or /users/me.
  await Promise.all(reading);
  const withCookie = sent.filter((request) => request.withCookie);
  assert.ok(withCookie.some((request) => request.path === "/api/v1/auth/refresh"), "the refreshes carried it");
  assert.deepEqual(withCookie.filter((request) => !request.path.startsWith(AUTH_PATH)), [], "sent outside /api/v1/auth");
  for (const path of ["/demo", "/demo/demo.js", "/api/v1/users/me"]) {
    assert.ok(sent.some((request) => request.path === path && !request.withCookie), `${path} requested without it`);
  }

  // Logout ends the session on the server and clears the cookie; a reload finds no session.
  // Without ?refresh the page renews only before expiry, so the cookie read here is the one
  // the logout sends.
  await page.goto(`${baseUrl}/demo`);
  await shows(page, "account");
  const beforeLogout = await refreshCookie(context);
  assert.ok(beforeLogout);
  await page.click("#sign-out");
  await shows(page, "sign-in");
  assert.equal(await refreshCookie(context), undefined, "logout removed the cookie");
  const replayed = await fetch(`${baseUrl}/api/v1/auth/refresh`, {
    method: "POST",
    headers: { cookie: `refresh_token=${beforeLogout.value}` },
  });
  assert.equal(replayed.status, 401, "the server ended the session: its cookie no longer refreshes");
  await page.reload();
  await shows(page, "sign-in");
  assert.equal(await page.textContent("#status"), "Signed out");
  assert.deepEqual(pageErrors, [], "the page threw");
});
