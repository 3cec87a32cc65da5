/**
 * The calling page and its siblings, served from `src/web/` as plain files: no build step, no CDN.
 *
 * - `/web/<file>`: CSS, browser modules and the AudioWorklet (no session needed; they hold no data).
 * - `/calling`, `/leads`, `/calls`, `/calls/:callSid`, `/personas`, `/personas/:id`: pages; without a
 *   session they redirect to `/login?next=…`. Each page file (`calling.html`, …) holds only its own
 *   `<title>`, `<script>` and `<main>`; `layout.html` holds what every page shares (the `<head>`, the
 *   skip link, the nav and **Sign out**), and the page is set into it when served.
 *
 * @module
 */

import type { Sessions } from "../http/session.ts";

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
  [/^\/calls$/, "calls.html"],
  [/^\/calls\/[A-Za-z0-9_-]{1,64}$/, "call.html"],
  [/^\/personas$/, "personas.html"],
  [/^\/personas\/[A-Za-z0-9_-]{1,64}$/, "persona.html"],
];

/** True when `pathname` is one of the pages or a file under `/web/`. */
export function isPagePath(pathname: string): boolean {
  return pathname === "/" || pathname.startsWith("/web/") ||
    PAGES.some(([pattern]) => pattern.test(pathname));
}

/** Builds the handler for the pages and `/web/` files. */
export function createPagesHandler(sessions: Sessions): (request: Request) => Promise<Response> {
  return async (request) => {
    const { pathname, search } = new URL(request.url);
    if (pathname === "/") return redirect("/calling");
    if (pathname.startsWith("/web/")) {
      const name = pathname.slice("/web/".length);
      if (!/^[a-z0-9_]+\.(css|js|svg)$/.test(name)) return notFound(pathname);
      return await serveFile(name, "public, max-age=60");
    }
    const page = PAGES.find(([pattern]) => pattern.test(pathname))?.[1];
    if (page === undefined) return notFound(pathname);
    if (!sessions.has(request)) return redirect(`/login?next=${encodeURIComponent(pathname + search)}`);
    return await servePage(page);
  };
}

/** The slots of `layout.html`: the page's head lines, then its `<main>`. */
const HEAD_SLOT = "<!-- page head -->";
const MAIN_SLOT = "<!-- page main -->";

/**
 * Sets the page file `name` into the shared layout: what stands before its `<main` goes into the
 * `<head>`, the rest after the nav. Both files are read on each request, so edits show on reload.
 */
async function servePage(name: string): Promise<Response> {
  let layout: string, page: string;
  try {
    [layout, page] = await Promise.all([
      Deno.readTextFile(new URL("layout.html", WEB_DIR)),
      Deno.readTextFile(new URL(name, WEB_DIR)),
    ]);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return notFound(`/web/${name}`);
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
  return respond(html, { type: TYPES[".html"]!, cacheControl: "no-store" });
}

async function serveFile(name: string, cacheControl: string): Promise<Response> {
  let body: Uint8Array<ArrayBuffer>;
  try {
    body = await Deno.readFile(new URL(name, WEB_DIR));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return notFound(`/web/${name}`);
    throw error;
  }
  const type = TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream";
  return respond(body, { type, cacheControl });
}

function respond(
  body: BodyInit,
  { type, cacheControl }: { type: string; cacheControl: string },
): Response {
  return new Response(body, {
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

function notFound(pathname: string): Response {
  return new Response(`Not found: ${pathname}\n`, {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
