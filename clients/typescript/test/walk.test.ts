// One account through the API with the typed client, against a running devserver:
// register → read the mail → verify → login → /users/me → refresh → sessions → logout.
//
//   AUTH_API_URL=http://127.0.0.1:8000 MAIL_DIR=.local/mail node --test dist/test/
//
// clients/typescript/check starts a devserver and runs this (scripts/test does).

import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";

import { ApiError, createAuthClient } from "../src/index.js";

const baseUrl = required("AUTH_API_URL");
const mailDir = required("MAIL_DIR");

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} (clients/typescript/check sets it and starts a devserver)`);
  return value;
}

/** The token of the link `linkPath?token=…` in the newest mail to `recipient`, waiting up to 15 s. */
async function mailedToken(recipient: string, linkPath: string): Promise<string> {
  const link = new RegExp(`${linkPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\?token=([A-Za-z0-9_-]+)`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const names = (await readdir(mailDir).catch(() => [] as string[])).filter((name) => name.endsWith(".eml")).sort().reverse();
    for (const name of names) {
      const mail = await readFile(join(mailDir, name), "utf8");
      if (!mail.toLowerCase().includes(`to: ${recipient}`)) continue;
      const found = link.exec(mail);
      if (found?.[1]) return found[1];
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${recipient} with a ${linkPath} link in ${mailDir}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test("one account: register, verify by mail, sign in, refresh, list sessions, sign out", async () => {
  const suffix = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const email = `ts-client-${suffix}@example.com`;
  const password = `Ts-Client-${suffix}!`;
  // Remembers the last Cookie header the client sent, to replay it after logout.
  let lastCookie: string | undefined;
  const recordingFetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    lastCookie = request.headers.get("cookie") ?? lastCookie;
    return fetch(request);
  };
  const auth = createAuthClient({ baseUrl, cookieJar: true, fetch: recordingFetch });

  const registered = await auth.api.POST("/api/v1/auth/register", {
    body: { email, username: `ts_${suffix}`.slice(0, 30), password },
  });
  assert.equal(registered.response.status, 201, JSON.stringify(registered.error));
  assert.equal(registered.data?.email, email);
  assert.equal(registered.data?.is_verified, false);

  // An unverified account cannot sign in yet: the error is typed, with a stable code.
  await assert.rejects(auth.login(email, password), (error: unknown) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "email_not_verified");
    return true;
  });

  const token = await mailedToken(email, "/verify-email");
  const verified = await auth.api.POST("/api/v1/auth/verify-email", { body: { token } });
  assert.deepEqual(verified.data, { message: "Email verified successfully", verified: true });

  const signIn = await auth.login(email, password);
  assert.ok("access_token" in signIn, "no second factor on a new account");
  assert.equal(signIn.token_type, "bearer");
  const firstToken = auth.accessToken();
  assert.ok(firstToken);

  const me = await auth.api.GET("/api/v1/users/me");
  assert.equal(me.response.status, 200);
  assert.equal(me.data?.email, email);
  assert.equal(me.data?.is_verified, true);

  // Two refreshes at once share one request: the rotated cookie is spent only once.
  const [first, second] = await Promise.all([auth.refresh(), auth.refresh()]);
  assert.equal(first.access_token, second.access_token);
  assert.notEqual(auth.accessToken(), firstToken);
  const stillMe = await auth.api.GET("/api/v1/users/me");
  assert.equal(stillMe.data?.email, email, "the refreshed token works");

  const sessions = await auth.api.GET("/api/v1/auth/sessions");
  assert.equal(sessions.data?.total_sessions, 1);
  assert.equal(sessions.data?.sessions[0]?.is_current, true);

  const current = auth.accessToken();
  await auth.logout();
  assert.equal(auth.accessToken(), undefined);
  const cookieAtLogout = lastCookie;
  assert.match(cookieAtLogout ?? "", /refresh_token=/, "the logout carried the refresh cookie");

  // The session is over: its access token and its refresh cookie stop working at once, on the
  // server (the client dropped the cookie, so the old one is sent by hand).
  const afterLogout = await auth.api.GET("/api/v1/users/me", { headers: { authorization: `Bearer ${current}` } });
  assert.equal(afterLogout.response.status, 401);
  assert.equal(afterLogout.error?.code, "invalid_token");
  const replayed = await fetch(`${baseUrl}/api/v1/auth/refresh`, { method: "POST", headers: { cookie: cookieAtLogout ?? "" } });
  assert.equal(replayed.status, 401, "the ended session's refresh cookie is refused");
  await assert.rejects(auth.refresh(), (error: unknown) => error instanceof ApiError && error.status === 401);
});
