// Signs in and prints the account, with the typed client:
//
//   node dist/examples/sign-in.js http://127.0.0.1:8000 jane@example.com 'Str0ng-Passw0rd!'
//
// In a browser, leave out `cookieJar`: the browser keeps the HttpOnly refresh cookie itself.

import { ApiError, createAuthClient } from "../src/index.js";

async function main(baseUrl: string, email: string, password: string): Promise<void> {
  const auth = createAuthClient({ baseUrl, cookieJar: true });

  const signIn = await auth.login(email, password);
  if ("mfa_required" in signIn) {
    console.log("this account has a second factor: POST /api/v1/auth/mfa/challenge with a code");
    return;
  }

  // Every path, parameter and answer is typed from the OpenAPI document.
  const { data: me, error, response } = await auth.api.GET("/api/v1/users/me");
  if (!me) throw new ApiError(response.status, error);
  console.log(`signed in as ${me.username} <${me.email}>, verified: ${me.is_verified}`);

  // The access token lasts minutes; the refresh cookie trades for a new one.
  const { expires_in } = await auth.refresh();
  console.log(`refreshed; the new access token expires in ${expires_in} s`);

  await auth.logout();
}

const [baseUrl, email, password] = process.argv.slice(2);
if (!baseUrl || !email || !password) {
  console.error("usage: node dist/examples/sign-in.js BASE_URL EMAIL PASSWORD");
  process.exit(2);
}
main(baseUrl, email, password).catch((error: unknown) => {
  console.error(error instanceof ApiError ? `refused: ${error.message}` : error);
  process.exit(1);
});
