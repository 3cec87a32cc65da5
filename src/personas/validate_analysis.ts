/**
 * Checks a persona's `analysis: { schema, instructions?, model? }`: the post-call analysis that fills
 * the call's outcome. The schema must be one OpenAI's strict structured output accepts; each part it
 * refuses is named with its path.
 *
 * @module
 */

import { strictSchemaProblems } from "./analysis_schema.ts";
import { checkText, describe, isRecord, type Report } from "../engines/settings_checks.ts";

const FIELDS = ["schema", "instructions", "model"];

/** Reports every problem in `value.analysis`, if set. */
export function checkAnalysis(value: Record<string, unknown>, report: Report): void {
  const analysis = value.analysis;
  if (analysis === undefined) return;
  if (!isRecord(analysis)) {
    report(
      "analysis",
      `${describe(analysis)} is not an object; write analysis: { schema: { type: "object", … } }`,
    );
    return;
  }
  for (const key of Object.keys(analysis)) {
    if (!FIELDS.includes(key)) {
      report(`analysis.${key}`, `unknown field; known fields are ${FIELDS.join(", ")}`);
    }
  }
  if (analysis.schema === undefined) {
    report("analysis.schema", 'missing; write the JSON schema of the outcome, { type: "object", … }');
  } else {
    for (const problem of strictSchemaProblems(analysis.schema, "analysis.schema")) {
      const at = problem.indexOf(": ");
      report(problem.slice(0, at), problem.slice(at + 2));
    }
  }
  checkText(
    analysis.instructions,
    "analysis.instructions",
    "write what the analyst should look for, or remove the field",
    report,
  );
  checkText(
    analysis.model,
    "analysis.model",
    'name a Responses model, e.g. "gpt-5-mini", or remove the field (OPENAI_ANALYSIS_MODEL)',
    report,
  );
}
