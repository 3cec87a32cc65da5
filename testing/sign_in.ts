/**
 * Signing in over HTTP, as the sign-in form posts: the session cookie that pages, the calls API from a
 * page, and the softphone socket need.
 *
 * @module
 */

/**
 * Posts `token` to `${origin}/login` (with the same-origin header the form sends) and returns the
 * `parley_session=…` cookie pair. Throws unless Parley answers 303 with a cookie.
 *
 * @example
 * ```ts
 * const cookie = await sessionCookie(t.origin, API_TOKEN);
 * await fetch(`${t.origin}/api/calls`, { headers: { cookie, origin: t.origin } });
 * ```
 */
export async function sessionCookie(origin: string, token: string, next = "/"): Promise<string> {
  const response = await fetch(`${origin}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { origin, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, next }),
  });
  await response.body?.cancel();
  const cookie = response.headers.get("set-cookie");
  if (response.status !== 303 || cookie === null) {
    throw new Error(
      `Sign-in answered ${response.status}${cookie === null ? " with no cookie" : ""}, not 303`,
    );
  }
  return cookie.split(";")[0]!;
}
