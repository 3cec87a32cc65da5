/**
 * `GET /login`, `POST /login`, `POST /logout`: the pages' sign-in with `API_TOKEN`.
 *
 * The form works without JavaScript. A wrong token is reported next to the field; without
 * API_TOKEN set, the page says what to set instead of showing a form.
 *
 * @module
 */

import { tokenMatches } from "../http/auth.ts";
import { readBodyText } from "../http/body.ts";
import type { Sessions } from "../http/session.ts";

/**
 * Largest sign-in form body, bytes. The form is a token and a `next` path: a few hundred bytes. A
 * larger body is refused (413) after reading at most this much, and the rest is never read.
 */
export const MAX_SIGN_IN_BODY_BYTES = 8 * 1024;

/** Options for {@linkcode createSignInHandlers}. */
export interface SignInOptions {
  sessions: Sessions;
  /** API_TOKEN, read on each request. */
  apiToken: () => string | undefined;
}

/** The three sign-in routes. */
export interface SignInHandlers {
  page(request: Request): Promise<Response>;
  signIn(request: Request): Promise<Response>;
  signOut(request: Request): Promise<Response>;
}

/** Builds the sign-in handlers. */
export function createSignInHandlers(options: SignInOptions): SignInHandlers {
  const { sessions } = options;
  return {
    async page(request) {
      const next = safeNext(new URL(request.url).searchParams.get("next"));
      if (await sessions.has(request)) return redirect(next);
      return html(200, loginPage({ configured: isSet(options.apiToken()), next, error: undefined }));
    },
    /** Behind the route table's `sameOrigin` guard, which refused a form from another site unread. */
    async signIn(request) {
      // Everything that needs no body is decided before reading it; a refused body is cancelled.
      const token = options.apiToken();
      if (!isSet(token)) {
        await cancelBody(request);
        return html(503, loginPage({ configured: false, next: safeNext(null), error: undefined }));
      }
      const body = await readBodyText(request, MAX_SIGN_IN_BODY_BYTES).catch(() => undefined);
      if (body === undefined || !body.ok) {
        const error = body === undefined
          ? "The sign-in form could not be read: send it again"
          : body.status === 413
          ? `The sign-in form is larger than ${MAX_SIGN_IN_BODY_BYTES} bytes: send only the token`
          : `The sign-in form ${body.error.replace(/^Request body /, "")}`;
        return html(
          body === undefined ? 400 : body.status,
          loginPage({ configured: true, next: "/calling", error }),
        );
      }
      const form = new URLSearchParams(body.text);
      const next = safeNext(form.get("next"));
      const offered = (form.get("token") ?? "").trim();
      // Compared as text: any character may be typed, even one no HTTP header could carry.
      if (offered === "" || !tokenMatches(offered, token!)) {
        const error = offered === "" ? "Enter the API token" : "That is not the API_TOKEN this server uses";
        return html(401, loginPage({ configured: true, next, error }));
      }
      return redirect(next, await sessions.start(request));
    },
    /** Behind the route table's `sameOrigin` guard. */
    async signOut(request) {
      return redirect("/login", await sessions.end(request));
    },
  };
}

/**
 * The `sameOrigin` guard's answer to a sign-in or sign-out form sent from another site: the sign-in
 * page saying so (403). `configured`: API_TOKEN is set.
 */
export function crossSiteFormPage(configured: boolean): Response {
  return html(
    403,
    loginPage({ configured, next: safeNext(null), error: "This form was sent from another site" }),
  );
}

/** Cancels an unread body, so the client's upload stops instead of being read. */
async function cancelBody(request: Request): Promise<void> {
  await request.body?.cancel().catch(() => {});
}

function isSet(token: string | undefined): boolean {
  return token !== undefined && token !== "";
}

/** Only local paths: `next` must not send the browser to another site. */
function safeNext(next: string | null): string {
  return next !== null && /^\/(?!\/)[\w\-./?=&%]*$/.test(next) ? next : "/calling";
}

function redirect(location: string, cookie?: string): Response {
  const headers = new Headers({ location, "cache-control": "no-store" });
  if (cookie !== undefined) headers.set("set-cookie", cookie);
  return new Response(null, { status: 303, headers });
}

function html(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
  });
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface LoginPage {
  configured: boolean;
  next: string;
  error: string | undefined;
}

function loginPage(page: LoginPage): string {
  const body = page.configured
    ? `<form method="post" action="/login" class="card narrow">
  <input type="hidden" name="next" value="${escape(page.next)}">
  <div class="field">
    <label for="token">API token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus
      ${page.error === undefined ? "" : 'aria-invalid="true" aria-describedby="token-error"'}>
    ${
      page.error === undefined
        ? '<p class="hint">The value of API_TOKEN in the server\'s .env.</p>'
        : `<p class="error" id="token-error" role="alert">⚠ ${escape(page.error)}</p>`
    }
  </div>
  <button type="submit">Sign in</button>
</form>`
    : `<section class="card narrow" role="alert">
  <h2>Sign-in is not set up</h2>
  <p>The pages and the API need a token. Set <code>API_TOKEN</code> in <code>.env</code>, for example
  with the output of <code>openssl rand -hex 24</code>, then restart Parley:</p>
  <pre>API_TOKEN=&lt;a long random value&gt;</pre>
</section>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Parley</title>
<link rel="stylesheet" href="/web/app.css">
</head>
<body>
<header class="top"><span class="brand">Parley</span></header>
<main>
<h1>Sign in</h1>
${body}
</main>
</body>
</html>
`;
}
