/** The persona page's Rehearse button: runs the persona's scenarios, shows each run as it ends. */
import { h } from "./app.js";

/** @typedef {import("../api/types.ts").RehearseEvents} RehearseEvents */
/** @typedef {import("../api/types.ts").RehearsalRun} RehearsalRun */

/**
 * One event of the stream: its name and data, narrowed together.
 * @typedef {{ [K in keyof RehearseEvents]: { event: K, data: RehearseEvents[K] } }[keyof RehearseEvents]} RehearseEvent
 */

/**
 * Reads a server-sent event stream from a fetch response, calling `onEvent` per event.
 * @param {Response} response
 * @param {(event: RehearseEvent) => void} onEvent
 */
async function readEvents(response, onEvent) {
  if (response.body === null) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (data !== undefined) onEvent(/** @type {RehearseEvent} */ ({ event, data: JSON.parse(data) }));
    }
  }
}

/** @param {number | null} usd */
const cost = (usd) => usd === null ? "unknown" : `$${usd.toFixed(4)}`;

/**
 * One run's line: pass or fail, its failed checks with reasons, and a link to its call.
 * @param {RehearsalRun} run
 */
function runItem(run) {
  const failed = run.checks.filter((c) => c.status === "failed");
  return h(
    "li",
    { class: run.passed ? "passed" : "failed", "data-scenario": run.scenario },
    `${run.passed ? "✔" : "✘"} ${run.scenario} — run ${run.run} `,
    run.callSid ? h("a", { href: `/calls/${encodeURIComponent(run.callSid)}` }, "call") : "",
    failed.length === 0 ? "" : h(
      "ul",
      {},
      ...failed.map((c) => h("li", { class: "error" }, `${c.name}: ${c.reason}`)),
    ),
  );
}

/**
 * Wires the button of persona `id`.
 * @param {string} id
 * @param {{ button: HTMLElement, status: HTMLElement, error: HTMLElement, runs: HTMLElement, summary: HTMLElement }} els
 */
export function wireRehearse(id, els) {
  els.button.addEventListener("click", async () => {
    els.button.setAttribute("disabled", "");
    els.error.hidden = true;
    els.runs.replaceChildren();
    els.summary.replaceChildren();
    els.status.textContent = "Starting…";
    let total = 0;
    let finished = 0;
    try {
      const response = await fetch(`/api/personas/${encodeURIComponent(id)}/rehearse`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(typeof body.error === "string" ? body.error : `HTTP ${response.status}`);
      }
      await readEvents(response, ({ event, data }) => {
        if (event === "start") {
          total = data.scenarios.reduce((n, s) => n + s.runs, 0);
          els.status.textContent =
            `Rehearsing ${data.scenarios.length} scenario(s): 0 of ${total} calls done…`;
        } else if (event === "run") {
          finished++;
          els.runs.append(runItem(data));
          els.status.textContent = `Rehearsing: ${finished} of ${total} calls done…`;
        } else if (event === "done") {
          els.summary.replaceChildren(...data.scenarios.map((s) =>
            h(
              "li",
              { class: s.passed ? "passed" : "failed", "data-scenario": s.scenario },
              `${s.passed ? "✔" : "✘"} ${s.scenario}: ${s.passedRuns}/${s.runs} passed` +
                (s.latency
                  ? `; latency p50 ${Math.round(s.latency.p50Ms)} ms, p95 ${Math.round(s.latency.p95Ms)} ms`
                  : "") +
                `; cost ${cost(s.costUsd)}`,
            )
          ));
          els.status.textContent = data.passed
            ? `Done: every scenario passed (cost ${cost(data.costUsd)}).`
            : `Done: some scenarios are below their pass rate (cost ${cost(data.costUsd)}).`;
        } else if (event === "problem") {
          throw new Error(data.message);
        }
      });
    } catch (error) {
      els.error.hidden = false;
      els.error.textContent = error instanceof Error ? error.message : String(error);
      els.status.textContent = "";
    } finally {
      els.button.removeAttribute("disabled");
    }
  });
}
