/**
 * The campaigns page's do-not-call panel: the list (each number with where it came from and a Remove
 * button), adding one number, and importing a CSV of numbers with a summary of what the import did.
 */
import { $, api, ApiError, fieldError, h, input, postChosenCsv, refusalShown, time } from "./app.js";
import { plural } from "./words.js";

/** Shows the list as the API has it now. */
async function refreshDnc() {
  const list = /** @type {import("../api/types.ts").DoNotCallList} */ (await api("/api/dnc"));
  $("dnc-list").replaceChildren(...list.numbers.map((n) =>
    h(
      "li",
      {},
      `${n.phone} (${n.source === "tool" ? "asked on a call" : n.source === "csv" ? "imported" : "added"}, ${
        time(n.addedAt)
      }) `,
      h("button", {
        type: "button",
        class: "secondary",
        "aria-label": `Remove ${n.phone}`,
        onclick: async () => {
          fieldError("dnc-remove", "");
          await refusalShown(
            "dnc-remove",
            api(`/api/dnc/${encodeURIComponent(n.phone)}`, { method: "DELETE" }),
          );
          await refreshDnc();
        },
      }, "Remove"),
    )
  ));
}

/** Wires the panel's two forms and shows the list; resolves once it is shown. */
export function startDoNotCall() {
  $("dnc-form").addEventListener("submit", async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    fieldError("phone", "");
    try {
      await api("/api/dnc", { method: "POST", body: { phone: input("dnc-phone").value } });
      input("dnc-phone").value = "";
      await refreshDnc();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fieldError("phone", error.message);
    }
  });
  $("dnc-import-form").addEventListener("submit", async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    $("dnc-import-result").replaceChildren();
    const result = /** @type {import("../api/types.ts").DoNotCallImport | undefined} */ (
      await postChosenCsv("dnc-csv", "/api/dnc/import")
    );
    if (result === undefined) return;
    $("dnc-import-result").replaceChildren(...dncImportSummary(result));
    await refreshDnc();
  });
  return refreshDnc();
}

/**
 * What a do-not-call import did: numbers added, numbers listed already, lines refused (the API lists
 * the first 100 and counts them all).
 * @param {import("../api/types.ts").DoNotCallImport} result @returns {HTMLElement[]}
 */
function dncImportSummary(result) {
  const summary = h(
    "p",
    { class: "ok" },
    `✔ Added ${plural(result.added, "number")} to the list.` +
      (result.alreadyListed > 0 ? ` ${plural(result.alreadyListed, "number")} listed already.` : ""),
  );
  if (result.errors.length === 0) return [summary];
  return [
    summary,
    h(
      "p",
      { class: "error" },
      result.refused === result.errors.length
        ? `⚠ ${plural(result.refused, "line")} not imported:`
        : `⚠ ${plural(result.refused, "line")} not imported; the first ${result.errors.length}:`,
    ),
    h(
      "ul",
      { class: "import-errors" },
      ...result.errors.map((e) => h("li", {}, `Line ${e.line}: ${e.message}`)),
    ),
  ];
}
