/**
 * `POST /api/personas/:id/rehearse`: runs the persona's scenarios (the files in the scenarios folder
 * whose `persona` is `:id`) against this very server, through the virtual phone, and streams the
 * results as server-sent events while they come in:
 *
 * | event | data |
 * | --- | --- |
 * | `start` | `{ scenarios: [{ id, description, runs }] }` |
 * | `run` | one run's result: scenario, run, passed, checks (name, status, reason), callSid, callUrl, costUsd |
 * | `done` | the report: per scenario the pass rate, failures, latency p50/p95 and cost |
 * | `problem` | `{ message }`: why nothing could run (a broken scenario file, no scenario…) |
 *
 * Body (optional JSON, at most {@linkcode MAX_REHEARSE_BODY_BYTES}): `{ "runs": N }` overrides every
 * scenario's `runs` (1 to 20). The route table (`app/routes.ts`) guards the route (`bearerOrSession`)
 * and limits its body before this handler runs.
 *
 * @module
 */

import type { ParleyConfig } from "../config.ts";
import type { PriceTable } from "../engines/prices.ts";
import type { UpstreamConnector } from "../engines/upstream_socket.ts";
import { readBodyText } from "../http/body.ts";
import { clip, describeValue } from "../http/input_text.ts";
import { jsonError } from "../http/responses.ts";
import type { Logger } from "../log.ts";
import type { PersonaRegistry } from "../personas/types.ts";
import type { RehearseEvents } from "./types.ts";
import { loadScenarios, scenarioFiles, ScenarioLoadError } from "../rehearsal/loader.ts";
import { summarize } from "../rehearsal/report.ts";
import { runRehearsals } from "../rehearsal/runner.ts";
import { rehearsalSetup, scenarioContext } from "../rehearsal/setup.ts";

/** Largest request body accepted, in bytes: `{"runs": 20}` and room to spare. */
export const MAX_REHEARSE_BODY_BYTES = 1024;

/** What the route needs. */
export interface RehearseRouteOptions {
  config: ParleyConfig & { publicBaseUrl: string };
  personas: PersonaRegistry;
  prices: PriceTable;
  log: Logger;
  /** Where this server listens, as the virtual phone reaches it (`http://127.0.0.1:<port>`). */
  selfOrigin: () => string;
  /** @default "scenarios" */
  scenariosDir?: string;
  /** Opens the caller sessions. */
  connect: UpstreamConnector;
  /** Ends the streams (server shutdown). */
  signal: AbortSignal;
}

/** Builds the handler; `:id` comes from the route table's path. */
export function createRehearseHandler(
  options: RehearseRouteOptions,
): (request: Request, context: { params: Record<string, string> }) => Promise<Response> {
  const { config, personas } = options;
  return async (request, { params }) => {
    const asked = await readRehearseRequest(request, params);
    if (asked instanceof Response) return asked;
    const { id, runs } = asked;
    if (personas.get(id) === undefined) return jsonError(404, `No persona "${id.slice(0, 60)}"`);
    if (config.twilioAuthToken === undefined || config.apiToken === undefined) {
      return jsonError(
        503,
        "Rehearsing here needs TWILIO_AUTH_TOKEN and API_TOKEN (the virtual phone signs and reads records " +
          "with them); run deno task rehearse instead, which needs neither",
      );
    }
    const stop = new AbortController();
    const abort = () => stop.abort();
    options.signal.addEventListener("abort", abort, { once: true });
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        // Typed by `types.ts`: the page reads exactly these shapes.
        const send: SendEvent = (event, data) => {
          if (stop.signal.aborted && event !== "done") return;
          try {
            controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
          } catch {
            stop.abort(); // the client went away
          }
        };
        try {
          await rehearse(options, { id, runs, send, signal: stop.signal });
        } catch (error) {
          const message = error instanceof ScenarioLoadError
            ? error.message
            : `Rehearsal failed: ${String(error)}`;
          send("problem", { message });
        } finally {
          options.signal.removeEventListener("abort", abort);
          try {
            controller.close();
          } catch {
            // already closed by the client
          }
        }
      },
      // The client went away: no new run starts (those under way finish and are recorded).
      cancel: abort,
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-store",
        "x-accel-buffering": "no",
      },
    });
  };
}

/** Sends one server-sent event of the stream. */
type SendEvent = <K extends keyof RehearseEvents>(event: K, data: RehearseEvents[K]) => void;

/** The persona id of the path and the body's `runs`, or the 400 (or 413) that says what is wrong. */
async function readRehearseRequest(
  request: Request,
  params: Record<string, string>,
): Promise<{ id: string; runs: number | undefined } | Response> {
  let id: string;
  try {
    id = decodeURIComponent(params.id ?? "");
  } catch {
    await request.body?.cancel();
    return jsonError(400, "The persona id in the path is not valid percent-encoding");
  }
  let runs: number | undefined;
  const read = await readBodyText(request, MAX_REHEARSE_BODY_BYTES);
  if (!read.ok) return jsonError(read.status, read.error);
  const text = read.text;
  if (text.trim() !== "") {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return jsonError(400, 'Body: not JSON; send {} or {"runs": 1}');
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return jsonError(400, `Body: ${describeValue(value)} is not a JSON object; send {} or {"runs": 1}`);
    }
    const body = value as { runs?: unknown };
    const unknown = Object.keys(body).find((key) => key !== "runs");
    if (unknown !== undefined) {
      return jsonError(400, `Field "${clip(unknown)}": unknown field; the body takes only "runs"`);
    }
    if (body.runs !== undefined) {
      if (
        typeof body.runs !== "number" || !Number.isInteger(body.runs) || body.runs < 1 || body.runs > 20
      ) {
        return jsonError(
          400,
          `Field "runs": ${JSON.stringify(body.runs)} is not a whole number from 1 to 20`,
        );
      }
      runs = body.runs;
    }
  }
  return { id, runs };
}

/** Loads persona `id`'s scenarios, runs them against this server and sends `start`, each `run`, then `done`. */
async function rehearse(
  options: RehearseRouteOptions,
  rehearsal: { id: string; runs: number | undefined; send: SendEvent; signal: AbortSignal },
): Promise<void> {
  const { config, personas } = options;
  const { id, runs, send } = rehearsal;
  const dir = options.scenariosDir ?? "scenarios";
  const all = await loadScenarios(
    await scenarioFiles(dir),
    scenarioContext(personas, config.realtimeModel),
    { reload: true },
  );
  const mine = all.filter((s) => s.scenario.persona === id);
  if (mine.length === 0) {
    send("problem", {
      message: `No scenario in ${dir}/ rehearses "${id}": add one (see the README, Rehearsals)`,
    });
    return;
  }
  send("start", {
    scenarios: mine.map((s) => ({
      id: s.id,
      description: s.scenario.description ?? "",
      runs: runs ?? s.scenario.runs ?? 3,
    })),
  });
  const setup = rehearsalSetup(config, {
    target: {
      origin: options.selfOrigin(),
      publicBaseUrl: config.publicBaseUrl,
      authToken: config.twilioAuthToken!,
      apiToken: config.apiToken!,
    },
    linkBaseUrl: config.publicBaseUrl,
    prices: options.prices,
    connect: options.connect,
  });
  options.log.info(`Rehearsing persona ${id}: ${mine.map((s) => s.id).join(", ")}`);
  const results = await runRehearsals(mine, {
    ...setup,
    ...(runs === undefined ? {} : { runs }),
    signal: rehearsal.signal,
    onRun: (result) => send("run", result),
  });
  send("done", summarize(mine, results));
}
