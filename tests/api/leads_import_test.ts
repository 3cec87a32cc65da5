/**
 * Leads through the HTTP API: an import de-duplicates by phone number (reporting each duplicate by
 * line, skipping or updating as asked), caps its rows and the problems it lists, and the list pages.
 */

import assert from "node:assert/strict";
import { MAX_IMPORT_ROWS, MAX_REPORTED_PROBLEMS } from "../../src/api/lead_import.ts";
import { DEFAULT_LEADS_PAGE, MAX_LEADS_PAGE } from "../../src/api/leads.ts";
import { callDatabasePath } from "../../src/store/sqlite/call_store.ts";
import { openLeadStore } from "../../src/store/sqlite/leads.ts";
import { callParameterProblem } from "../../src/calls/call_parameters.ts";
import { startTestParley, type TestParley } from "../../testing/parley_harness.ts";

const API_TOKEN = "leads-import-token-0123456789abcdef";

type Json = Record<string, unknown>;
type Api = (path: string, method?: string, body?: string) => Promise<{ status: number; body: Json }>;

async function withLeads(body: (api: Api, t: TestParley) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "parley_leads_import_" });
  const leads = openLeadStore(callDatabasePath(dir));
  const t = await startTestParley({ leads, env: { API_TOKEN } });
  const api: Api = async (path, method = "GET", text) => {
    const response = await fetch(`${t.origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "text/csv" },
      ...(text === undefined ? {} : { body: text }),
    });
    return { status: response.status, body: await response.json() };
  };
  try {
    await body(api, t);
  } finally {
    await t.close();
    leads.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const CSV = "name,phone,company,plan\n" +
  "Ada,+14155550101,Acme,pro\n" +
  "Bo,+1 (415) 555-0102,Beta,\n" +
  "Ada again,+1 415 555 0101,Acme,basic\n";

Deno.test("import: the same CSV twice adds nothing the second time and reports each duplicate by line", async () => {
  await withLeads(async (api) => {
    const first = await api("/api/leads/import", "POST", CSV);
    assert.equal(first.status, 201);
    assert.deepEqual(
      (first.body.imported as Json[]).map((l) => [l.name, l.phone]),
      [["Ada", "+14155550101"], ["Bo", "+14155550102"]],
      "written-out numbers are normalised to E.164",
    );
    assert.deepEqual(first.body.duplicates, [
      { line: 4, phone: "+14155550101", action: "skipped", sameAsLine: 2 },
    ]);
    const ids = Object.fromEntries((first.body.imported as Json[]).map((l) => [l.name, l.id]));

    const second = await api("/api/leads/import", "POST", CSV);
    assert.equal(second.status, 201);
    assert.deepEqual(second.body.imported, []);
    assert.deepEqual(second.body.duplicates, [
      { line: 2, phone: "+14155550101", action: "skipped", existingLead: ids.Ada },
      { line: 3, phone: "+14155550102", action: "skipped", existingLead: ids.Bo },
      { line: 4, phone: "+14155550101", action: "skipped", sameAsLine: 2 },
    ]);
    assert.deepEqual(second.body.counts, {
      rows: 3,
      imported: 0,
      updated: 0,
      skipped: 3,
      duplicates: 3,
      errors: 0,
    });
    assert.equal(second.body.onDuplicate, "skip");
    const list = await api("/api/leads");
    assert.equal(list.body.total, 2);
    assert.deepEqual((list.body.leads as Json[]).map((l) => l.name), ["Ada", "Bo"]);
  });
});

Deno.test("import: onDuplicate=update updates the existing lead from the file's columns", async () => {
  await withLeads(async (api) => {
    await api("/api/leads/import", "POST", "name,phone,notes,plan,region\nAda,+14155550101,VIP,pro,west\n");
    const update = await api(
      "/api/leads/import?onDuplicate=update",
      "POST",
      "name,phone,plan,region\nAda Lovelace,+1-415-555-0101,enterprise,\nCy,+14155550103,basic,\n",
    );
    assert.equal(update.status, 201);
    assert.deepEqual((update.body.imported as Json[]).map((l) => l.name), ["Cy"]);
    const [updated] = update.body.updated as Json[];
    assert.equal(updated!.name, "Ada Lovelace");
    assert.equal(updated!.notes, "VIP", "a column the file lacks is left alone");
    assert.deepEqual(updated!.fields, { plan: "enterprise" }, "an empty cell removes that field");
    assert.deepEqual(update.body.duplicates, [
      { line: 2, phone: "+14155550101", action: "updated", existingLead: updated!.id },
    ]);
    assert.equal((await api("/api/leads")).body.total, 2);

    const wrong = await api("/api/leads/import?onDuplicate=merge", "POST", CSV);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'Query "onDuplicate": "merge" is not "skip" or "update"');
  });
});

Deno.test("import: rows per import and problems listed are capped, and the answer says so", async () => {
  await withLeads(async (api) => {
    const tooMany = "name,phone\n" + "Ann,+14155550100\n".repeat(MAX_IMPORT_ROWS + 1);
    const refused = await api("/api/leads/import", "POST", tooMany);
    assert.equal(refused.status, 413);
    assert.equal(
      refused.body.error,
      `CSV has ${MAX_IMPORT_ROWS + 1} rows: at most ${MAX_IMPORT_ROWS} rows per import; split the file`,
    );
    assert.equal((await api("/api/leads")).body.total, 0, "nothing of a refused file is kept");

    // Bad rows: every one an error, but only the first MAX_REPORTED_PROBLEMS are listed.
    const bad = "name,phone\n" + "x\n".repeat(3000);
    const answer = await api("/api/leads/import", "POST", bad);
    assert.equal(answer.status, 207);
    assert.equal((answer.body.errors as unknown[]).length, MAX_REPORTED_PROBLEMS);
    assert.deepEqual((answer.body.errors as Json[])[0], {
      line: 2,
      field: "row",
      message: "1 cells where the header has 2",
    });
    assert.equal((answer.body.counts as Json).errors, 3000);
    assert.deepEqual(answer.body.limits, {
      maxRows: MAX_IMPORT_ROWS,
      maxReported: MAX_REPORTED_PROBLEMS,
      maxBytes: 1024 * 1024,
    });
    assert.ok(JSON.stringify(answer.body).length < 64 * 1024, "the answer stays small");
  });
});

Deno.test("GET /api/leads pages by name with a cursor, a default and a maximum limit", async () => {
  await withLeads(async (api) => {
    const names = Array.from(
      { length: 250 },
      (_, i) => `${i % 2 === 0 ? "a" : "B"}-lead-${String(i).padStart(3, "0")}`,
    );
    const csv = "name,phone\n" + names.map((n, i) => `${n},+1415555${String(1000 + i)}`).join("\n");
    assert.equal((await api("/api/leads/import", "POST", csv)).status, 201);

    const first = await api("/api/leads");
    assert.equal((first.body.leads as unknown[]).length, DEFAULT_LEADS_PAGE);
    assert.equal(first.body.total, 250);

    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: Json } = await api(
        `/api/leads?limit=100${after === null ? "" : `&after=${encodeURIComponent(after)}`}`,
      );
      assert.equal(page.status, 200);
      seen.push(...(page.body.leads as Json[]).map((l) => String(l.name)));
      after = page.body.next as string | null;
      pages++;
    } while (after !== null);
    assert.equal(pages, 3);
    const expected = [...names].sort((x, y) => x.toLowerCase().localeCompare(y.toLowerCase()));
    assert.deepEqual(seen, expected, "every lead once, by name whatever its case");

    for (const limit of ["0", String(MAX_LEADS_PAGE + 1), "ten", "1.5"]) {
      const refused = await api(`/api/leads?limit=${limit}`);
      assert.equal(refused.status, 400, `limit=${limit}`);
      assert.match(
        String(refused.body.error),
        new RegExp(
          `^Query "limit": "${limit.replace(".", "\\.")}" is not a number from 1 to ${MAX_LEADS_PAGE}$`,
        ),
      );
    }
    const badCursor = await api("/api/leads?after=nope");
    assert.equal(badCursor.status, 400);
    assert.match(String(badCursor.body.error), /^Query "after": "nope" is not a cursor/);
  });
});

Deno.test("a line break in a lead field (a quoted multi-line CSV cell, or JSON) is kept as a space, so the lead can be called; other control characters are refused by field", async () => {
  await withLeads(async (api, t) => {
    const imported = await api(
      "/api/leads/import",
      "POST",
      'name,phone,address\nDana,+14155550100,"1 Main St\r\nSpringfield\tIL"\n',
    );
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    const [dana] = imported.body.imported as { id: number; fields: Record<string, string> }[];
    assert.deepEqual(dana!.fields, { address: "1 Main St Springfield IL" });
    // The lead's fields are call parameters: the call the calling page would start takes them.
    assert.equal(callParameterProblem("address", dana!.fields.address), undefined);

    const json = (body: unknown, path = "/api/leads", method = "POST") =>
      fetch(`${t.origin}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const created = await json({
      name: "Eve",
      phone: "+14155550111",
      fields: { note: "line one\nline two" },
    });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.fields, { note: "line one line two" });
    const refused = await json({ name: "Fay", phone: "+14155550112", fields: { note: "bell\u0007" } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error, /^Field "fields\.note": contains control characters/);
  });
});
