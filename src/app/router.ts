/**
 * Runs the route table (`routes.ts`): finds the row for a request, applies its body limit and its
 * guard as middleware, then calls its handler with the path's `:name` segments and the Twilio form.
 *
 * @module
 */

import { jsonError } from "../http/responses.ts";
import { limitBody } from "./middleware/body_limit.ts";
import { applyGuard, type GuardOptions } from "./middleware/guards.ts";
import { refuseNonUpgrade } from "./middleware/websocket.ts";
import type { RouteRow } from "./routes.ts";

/** What a handler gets besides the request. */
export interface RouteContext {
  /** The path's `:name` segments, as sent (still percent-encoded). */
  params: Record<string, string>;
  /** The form of a `twilio`-guarded POST, read by its guard; else empty. */
  form: Record<string, string>;
}

/** A route's handler. */
export type RouteHandler = (request: Request, context: RouteContext) => Response | Promise<Response>;

/** Options of {@linkcode createRouter}. */
export interface RouterOptions<Name extends string> {
  rows: readonly RouteRow<Name>[];
  /** The handler of each row's `handler` name. */
  handlers: Record<Name, RouteHandler>;
  guards: GuardOptions;
  /** The answer when no row's path matches. */
  notFound: (request: Request) => Response | Promise<Response>;
}

interface CompiledRow<Name extends string> {
  row: RouteRow<Name>;
  pattern: RegExp;
  names: string[];
  handle: RouteHandler;
}

/**
 * Builds the request handler for `rows`.
 *
 * @example
 * ```ts
 * const route = createRouter({ rows: ROUTES, handlers, guards, notFound });
 * Deno.serve((request) => route(request));
 * ```
 */
export function createRouter<Name extends string>(
  options: RouterOptions<Name>,
): (request: Request) => Promise<Response> {
  const compiled = options.rows.map((row) => {
    const handle = options.handlers[row.handler];
    if (handle === undefined) throw new Error(`Route ${row.method} ${row.path}: no handler "${row.handler}"`);
    return { row, ...compilePath(row.path), handle } satisfies CompiledRow<Name>;
  });

  return async (request) => {
    const { pathname } = new URL(request.url);
    const allowed: string[] = [];
    for (const entry of compiled) {
      const match = entry.pattern.exec(pathname);
      if (match === null) continue;
      if (entry.row.method !== request.method) {
        if (!allowed.includes(entry.row.method)) allowed.push(entry.row.method);
        continue;
      }
      const params: Record<string, string> = {};
      entry.names.forEach((name, i) => params[name] = match[i + 1]!);
      return await run(entry, request, params, options.guards);
    }
    if (allowed.length === 0) return await options.notFound(request);
    await request.body?.cancel().catch(() => {});
    const response = jsonError(
      405,
      `Method ${request.method} is not allowed here: use ${allowed.join(" or ")}`,
    );
    response.headers.set("allow", allowed.join(", "));
    return response;
  };
}

/** Body limit, then guard, then handler. */
async function run<Name extends string>(
  entry: CompiledRow<Name>,
  original: Request,
  params: Record<string, string>,
  guards: GuardOptions,
): Promise<Response> {
  const { bodyLimit, guard } = entry.row;
  let request = original;
  if (bodyLimit === "websocket") {
    const refused = refuseNonUpgrade(request, entry.row.path);
    if (refused !== undefined) return refused;
  } else if (typeof bodyLimit === "number") {
    const limited = await limitBody(request, bodyLimit);
    if (limited instanceof Response) return limited;
    request = limited;
  }
  const verdict = await applyGuard(guard, request, bodyLimit, guards);
  if (verdict instanceof Response) {
    await request.body?.cancel().catch(() => {});
    return verdict;
  }
  return await entry.handle(request, { params, form: verdict.form });
}

/** `/a/:b/c` → a pattern with one group per `:name`; a trailing `/*` also matches the bare path. */
function compilePath(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const rest = path.endsWith("/*") ? path.slice(0, -2) : path;
  const source = rest.split("/").map((segment) => {
    if (!segment.startsWith(":")) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    names.push(segment.slice(1));
    return "([^/]+)";
  }).join("/");
  return { pattern: new RegExp(`^${source}${path.endsWith("/*") ? "(?:/.*)?" : ""}$`), names };
}
