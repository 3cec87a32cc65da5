import assert from "node:assert/strict";
import { parseCsv } from "../../src/api/csv.ts";

Deno.test("CSV: quotes, doubled quotes, commas and line breaks inside quotes, CRLF, BOM, blank lines", () => {
  const text = '\uFEFFname,notes\r\n"Lovelace, Ada","said ""hi""\nthen left"\r\n\r\nBo,\n';
  assert.deepEqual(parseCsv(text), [
    { line: 1, cells: ["name", "notes"] },
    { line: 2, cells: ["Lovelace, Ada", 'said "hi"\nthen left'] },
    { line: 5, cells: ["Bo", ""] },
  ]);
});

Deno.test("CSV: a last line without a line break, and an empty text", () => {
  assert.deepEqual(parseCsv("a,b\n1,2"), [{ line: 1, cells: ["a", "b"] }, { line: 2, cells: ["1", "2"] }]);
  assert.deepEqual(parseCsv(""), []);
});
