// The demo's script: the access token lives in this closure only (never in storage); the
// refresh cookie is HttpOnly, so this script cannot read it, and the browser sends it to
// /api/v1/auth only. `?refresh=N` renews the access token every N seconds (the browser test
// uses 2); by default one minute before it expires.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const every = Number(new URLSearchParams(location.search).get("refresh")) || 0;
  let accessToken = null;
  let timer = null;
  let refreshes = 0;

  async function call(method, path, body) {
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (accessToken) headers.authorization = `Bearer ${accessToken}`;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => null);
    return { ok: response.ok, status: response.status, data };
  }

  function status(text) {
    $("status").textContent = text;
  }

  function showSignedOut(text) {
    accessToken = null;
    clearTimeout(timer);
    $("account").hidden = true;
    $("sign-in").hidden = false;
    status(text);
  }

  async function showAccount(tokens) {
    accessToken = tokens.access_token;
    const me = await call("GET", "/api/v1/users/me");
    if (!me.ok) return showSignedOut(`Could not read the account (${me.status})`);
    const sessions = await call("GET", "/api/v1/auth/sessions");
    const current = sessions.ok ? sessions.data.sessions.find((session) => session.is_current) : null;
    $("username").textContent = me.data.username;
    $("user-email").textContent = me.data.email;
    $("verified").textContent = me.data.is_verified ? "yes" : "no";
    $("session").textContent = current ? `${current.id.slice(0, 8)}…, since ${current.created_at}` : "unknown";
    $("expires-in").textContent = String(tokens.expires_in);
    const seconds = every || Math.max(tokens.expires_in - 60, 10);
    $("refresh-every").textContent = String(seconds);
    $("refreshes").textContent = String(refreshes);
    $("sign-in").hidden = true;
    $("account").hidden = false;
    status("Signed in");
    clearTimeout(timer);
    timer = setTimeout(refresh, seconds * 1000);
  }

  async function refresh() {
    const renewed = await call("POST", "/api/v1/auth/refresh");
    if (!renewed.ok) return showSignedOut("Signed out: the session has ended");
    refreshes += 1;
    await showAccount(renewed.data);
  }

  $("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    status("Signing in…");
    const signIn = await call("POST", "/api/v1/auth/login", { email: $("email").value, password: $("password").value });
    if (!signIn.ok) return showSignedOut(`Sign-in refused: ${signIn.data?.detail ?? signIn.status}`);
    if (signIn.data.mfa_required) return showSignedOut("This account has a second factor; the demo does not do that step");
    await showAccount(signIn.data);
  });

  $("sign-out").addEventListener("click", async () => {
    let ended = await call("POST", "/api/v1/auth/logout");
    if (ended.status === 401) {
      // The access token expired (a laptop asleep past the timer): renew it, then sign out.
      const renewed = await call("POST", "/api/v1/auth/refresh");
      if (renewed.ok) {
        accessToken = renewed.data.access_token;
        ended = await call("POST", "/api/v1/auth/logout");
      }
    }
    if (ended.ok || ended.status === 401) showSignedOut("Signed out");
    else status(`Sign-out failed (${ended.status}); try again`);
  });

  // After a reload the access token is gone; the refresh cookie, if any, brings the session back.
  (async () => {
    const renewed = await call("POST", "/api/v1/auth/refresh");
    if (renewed.ok) await showAccount(renewed.data);
    else showSignedOut("Signed out");
  })();
})();
