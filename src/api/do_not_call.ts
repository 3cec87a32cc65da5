/**
 * The do-not-call list's routes (`/api/dnc…`), served with the campaigns API (`campaigns.ts`):
 * `GET /api/dnc`, `POST /api/dnc` (`{"phone": "+1…"}`), `POST /api/dnc/import` (CSV with a `phone`
 * column), `DELETE /api/dnc/:phone`.
 *
 * @module
 */

import { isE164 } from "../config.ts";
import { readBodyJson, readBodyText } from "../http/body.ts";
import { clip } from "../http/input_text.ts";
import { jsonError, jsonResponse } from "../http/responses.ts";
import type { DoNotCallList } from "../store/ports.ts";
import { parseCsv } from "./csv.ts";
import { normalisePhone } from "./lead_checks.ts";
import type { DoNotCallImport } from "./types.ts";

/** Largest `POST /api/dnc` body, bytes. */
export const MAX_DNC_BODY_BYTES = 4 * 1024;
/** Largest `POST /api/dnc/import` body, bytes. */
export const MAX_DNC_IMPORT_BYTES = 1024 * 1024;

/** Most refused CSV rows an import describes one by one. */
const MAX_IMPORT_ERRORS = 100;

type Handler = (request: Request, context: { params: Record<string, string> }) => Promise<Response>;

/** The do-not-call handlers, by route-table name. */
export interface DoNotCallHandlers {
  listDnc: Handler;
  addDnc: Handler;
  importDnc: Handler;
  removeDnc: Handler;
}

/**
 * Builds the do-not-call handlers over `doNotCall`; `now` stamps the numbers added.
 *
 * @example
 * ```ts
 * const dnc = createDoNotCallHandlers({ doNotCall: store.doNotCall, now: Date.now });
 * ```
 */
export function createDoNotCallHandlers(
  { doNotCall, now }: { doNotCall: DoNotCallList; now: () => number },
): DoNotCallHandlers {
  return {
    async listDnc() {
      return jsonResponse(200, { numbers: await doNotCall.list() });
    },
    async addDnc(request) {
      const body = await readBodyJson(request, MAX_DNC_BODY_BYTES, '{"phone": "+14155550100"}');
      if (!body.ok) return jsonError(body.status, body.error);
      const phone = phoneOfBody(body.value);
      if (phone instanceof Response) return phone;
      const added = await doNotCall.add([phone], "api", now());
      return jsonResponse(added > 0 ? 201 : 200, { phone, added: added > 0 });
    },
    async importDnc(request) {
      const body = await readBodyText(request, MAX_DNC_IMPORT_BYTES);
      if (!body.ok) return jsonError(body.status, body.error);
      const read = phonesOfCsv(body.text);
      if (read instanceof Response) return read;
      const { phones, refused, errors } = read;
      const added = await doNotCall.add(phones, "csv", now());
      return jsonResponse(
        errors.length > 0 ? 207 : 201,
        {
          added,
          alreadyListed: phones.length - added,
          refused,
          errors,
        } satisfies DoNotCallImport,
      );
    },
    async removeDnc(request, { params }) {
      await request.body?.cancel().catch(() => {});
      let decoded: string;
      try {
        decoded = decodeURIComponent(params.phone ?? "");
      } catch {
        return jsonError(400, `Path: "${clip(params.phone ?? "")}" is not valid percent-encoding`);
      }
      const phone = normalisePhone(decoded);
      if (!isE164(phone)) return jsonError(400, `Path: "${clip(phone)}" is not an E.164 number`);
      return (await doNotCall.remove(phone))
        ? jsonResponse(200, { phone, removed: true })
        : jsonError(404, `${phone} is not on the do-not-call list`);
    },
  };
}

/** The E.164 number of a `POST /api/dnc` body (`{"phone": …}` and nothing else), or the 400 naming what is wrong. */
function phoneOfBody(value: unknown): string | Response {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return jsonError(400, 'Body: send a JSON object like {"phone": "+14155550100"}');
  }
  const unknown = Object.keys(value).find((key) => key !== "phone");
  if (unknown !== undefined) {
    return jsonError(400, `Unknown field "${clip(unknown)}": the only field is phone`);
  }
  const given = (value as Record<string, unknown>).phone;
  const phone = typeof given === "string" ? normalisePhone(given) : undefined;
  if (phone === undefined || !isE164(phone)) {
    return jsonError(400, 'Field "phone": send an E.164 number like {"phone": "+14155550100"}');
  }
  return phone;
}

/** A CSV import read: its E.164 numbers, how many rows were refused, and the first refusals by line. */
interface CsvPhones {
  phones: string[];
  refused: number;
  errors: { line: number; message: string }[];
}

/** The numbers of the CSV's `phone` column, or the 400 when its header row has none. */
function phonesOfCsv(text: string): CsvPhones | Response {
  const records = parseCsv(text);
  const header = records.shift();
  const column = header?.cells.findIndex((cell) => cell.trim().toLowerCase() === "phone") ?? -1;
  if (header === undefined || column < 0) {
    return jsonError(400, 'CSV has no "phone" column in its header row');
  }
  const read: CsvPhones = { phones: [], refused: 0, errors: [] };
  for (const record of records) {
    const phone = normalisePhone(record.cells[column] ?? "");
    if (isE164(phone)) read.phones.push(phone);
    else if (read.refused++ < MAX_IMPORT_ERRORS) {
      read.errors.push({ line: record.line, message: `"${phone.slice(0, 40)}" is not an E.164 number` });
    }
  }
  return read;
}
