/**
 * `deno task persona <id> [--param name=value …]`: prints what a call with persona `<id>` would
 * send (the same preview as the persona page): its engine and voice, the rendered instructions,
 * the opening session messages, the tools and any problems. Exits 1 when the persona cannot be
 * loaded or has problems.
 *
 * Reads PERSONAS_DIR (default ./personas) and OPENAI_REALTIME_MODEL from the environment.
 *
 * @module
 */

import { DEFAULT_REALTIME_MODEL } from "./config.ts";
import { loadPersonas, PersonaLoadError } from "./personas/loader.ts";
import { type PersonaPreview, previewPersona } from "./relay/preview.ts";

/** Parsed command line. */
export interface PersonaCommand {
  id: string;
  parameters: Record<string, string>;
}

/** Parses `<id> [--param name=value …]`; throws an Error saying what is wrong. */
export function parsePersonaArgs(args: readonly string[]): PersonaCommand {
  const usage = "usage: deno task persona <id> [--param name=value …]";
  const parameters: Record<string, string> = {};
  let id: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--param" || arg.startsWith("--param=")) {
      const pair = arg === "--param" ? args[++i] : arg.slice("--param=".length);
      const at = pair?.indexOf("=") ?? -1;
      if (pair === undefined || at <= 0) {
        throw new Error(`--param needs name=value, got "${pair ?? ""}": ${usage}`);
      }
      parameters[pair.slice(0, at)] = pair.slice(at + 1);
    } else if (id === undefined && !arg.startsWith("-")) id = arg;
    else throw new Error(`Unexpected argument "${arg}": ${usage}`);
  }
  if (id === undefined) throw new Error(`Name a persona: ${usage}`);
  return { id, parameters };
}

/** The preview as terminal text. */
export function formatPreview(preview: PersonaPreview): string {
  const section = (title: string, body: string) =>
    `── ${title} ${"─".repeat(Math.max(0, 60 - title.length))}\n${body}\n`;
  return [
    `Persona "${preview.id}": ${preview.description || "(no description)"}`,
    `Engine ${preview.engine}, model ${preview.model}, voice ${preview.voice}`,
    `Parameters: ${JSON.stringify(preview.parameters)}`,
    "",
    section(
      "Problems",
      preview.problems.length === 0 ? "none" : preview.problems.map((p) => `- ${p}`).join("\n"),
    ),
    section("Instructions", preview.instructions ?? "(not rendered)"),
    section(
      "Opening session messages",
      preview.openingMessages.map((m) => JSON.stringify(m, null, 2)).join("\n"),
    ),
    section("Tools", preview.tools.length === 0 ? "none" : JSON.stringify(preview.tools, null, 2)),
  ].join("\n");
}

async function main(args: string[]): Promise<number> {
  let command: PersonaCommand;
  try {
    command = parsePersonaArgs(args);
  } catch (error) {
    console.error(`❌ ${(error as Error).message}`);
    return 2;
  }
  const dir = Deno.env.get("PERSONAS_DIR") || "./personas";
  const model = Deno.env.get("OPENAI_REALTIME_MODEL") || DEFAULT_REALTIME_MODEL;
  let personas;
  try {
    personas = await loadPersonas(dir);
  } catch (error) {
    if (!(error instanceof PersonaLoadError)) throw error;
    console.error(`❌ ${error.message}`);
    return 1;
  }
  const loaded = personas.get(command.id);
  if (loaded === undefined) {
    console.error(`❌ No persona "${command.id}" in ${dir}: found ${[...personas.keys()].join(", ")}`);
    return 1;
  }
  const preview = previewPersona(loaded, { defaultModel: model, parameters: command.parameters });
  console.log(formatPreview(preview));
  return preview.valid ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
