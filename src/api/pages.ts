/**
 * The calling page and its siblings, served from `src/web/` as plain files: no build step, no CDN.
 *
 * - `/web/<file>`: CSS, browser modules, the AudioWorklet and the icon (no session needed; they hold
 *   no data). `/favicon.ico` answers the same SVG icon, for pages that do not link it (the sign-in page).
 * - `/calling`, `/leads`, `/campaigns`, `/calls`, `/calls/:callSid`, `/personas`, `/personas/:id`: pages; without a
 *   session they redirect to `/login?next=…`. Each page file (`calling.html`, …) holds only its own
 *   `<title>`, `<script>` and `<main>`; the route table's `signedInPage` guard does the redirect;
 *   `layout.html` holds what every page shares (the `<head>`, the
 *   skip link, the nav and **Sign out**), and the page is set into it when served.
 * - Anything else: {@linkcode notFoundResponse}, an HTML page for a browser, JSON for a script.
 *
 * @module
 */

import { jsonError } from "../http/responses.ts";

const WEB_DIR = new URL("../web/", import.meta.url);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** Page paths and the file each serves. */
const PAGES: readonly [RegExp, string][] = [
  [/^\/calling$/, "calling.html"],
  [/^\/leads$/, "leads.html"],
  [/^\/campaigns$/, "campaigns.html"],
  [/^\/calls$/, "calls.html"],
  [/^\/calls\/[A-Za-z0-9_-]{1,64}$/, "call.html"],
  [/^\/personas$/, "personas.html"],
  [/^\/personas\/[A-Za-z0-9_-]{1,64}$/, "persona.html"],
];

/** The handlers of the page routes, one per kind of row in the route table. */
export interface PagesHandlers {
  /** `GET /`: to the calling page. */
  home(request: Request): Response;
  /** `GET /favicon.ico`, `GET /web/<file>`. */
  webFile(request: Request): Promise<Response>;
  /** `GET /calling` and the other pages (the session was checked by the route's guard). */
  page(request: Request): Promise<Response>;
}

/** Builds the handlers of the pages and `/web/` files. */
export function createPagesHandlers(): PagesHandlers {
  return {
    home: () => redirect("/calling"),
    async webFile(request) {
      const { pathname } = new URL(request.url);
      if (pathname === "/favicon.ico") {
        return await serveFile(request, "favicon.svg", "public, max-age=86400");
      }
      const name = pathname.slice("/web/".length);
      if (!/^[a-z0-9_]+\.(css|js|svg)$/.test(name)) return await notFoundResponse(request);
      return await serveFile(request, name, "public, max-age=60");
    },
    async page(request) {
      const { pathname } = new URL(request.url);
      const page = PAGES.find(([pattern]) => pattern.test(pathname))?.[1];
      if (page === undefined) return await notFoundResponse(request);
      return await servePage(page);
    },
  };
}

/**
 * The answer for a path Parley has nothing at: for a browser (`Accept: text/html`), a page in the
 * layout that says so and links to the pages there are; for a script, `{"error": "No route for GET /x"}`.
 *
 * @example
 * ```ts
 * return await notFoundResponse(request); // in the router, after every route missed
 * ```
 */
export async function notFoundResponse(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  const wantsHtml = (request.headers.get("accept") ?? "").toLowerCase().includes("text/html");
  if (!wantsHtml || request.method !== "GET") {
    return jsonError(404, `No route for ${request.method} ${pathname.slice(0, 200)}`);
  }
  return await servePage("not_found.html", 404);
}

/** The slots of `layout.html`: the page's head lines, then its `<main>`. */
const HEAD_SLOT = "<!-- page head -->";
const MAIN_SLOT = "<!-- page main -->";

/**
 * Sets the page file `name` into the shared layout: what stands before its `<main` goes into the
 * `<head>`, the rest after the nav. Both files are read on each request, so edits show on reload.
 */
async function servePage(name: string, status = 200): Promise<Response> {
  let layout: string, page: string;
  try {
    [layout, page] = await Promise.all([
      Deno.readTextFile(new URL("layout.html", WEB_DIR)),
      Deno.readTextFile(new URL(name, WEB_DIR)),
    ]);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`Cannot serve page "${name}": no such file`);
    throw error;
  }
  const at = page.indexOf("<main");
  if (at < 0) throw new Error(`Cannot serve page "${name}": it has no <main> element`);
  if (!layout.includes(HEAD_SLOT) || !layout.includes(MAIN_SLOT)) {
    throw new Error(`Cannot serve page "${name}": "layout.html" lacks "${HEAD_SLOT}" or "${MAIN_SLOT}"`);
  }
  // A function replacer, so a `$` in the page is never read as a replacement pattern.
  const html = layout
    .replace(HEAD_SLOT, () => page.slice(0, at).trim())
    .replace(MAIN_SLOT, () => page.slice(at).trim());
  return respond(html, { type: TYPES[".html"]!, cacheControl: "no-store", status });
}

async function serveFile(request: Request, name: string, cacheControl: string): Promise<Response> {
  let body: Uint8Array<ArrayBuffer>;
  try {
    body = await Deno.readFile(new URL(name, WEB_DIR));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return await notFoundResponse(request);
    throw error;
  }
  const type = TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream";
  return respond(body, { type, cacheControl });
}

function respond(
  body: BodyInit,
  { type, cacheControl, status = 200 }: { type: string; cacheControl: string; status?: number },
): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": type,
      "cache-control": cacheControl,
      "x-content-type-options": "nosniff",
      // Everything the pages need comes from Parley itself.
      "content-security-policy":
        "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:; frame-ancestors 'none'",
    },
  });
}

function redirect(location: string): Response {
  return new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });
}
