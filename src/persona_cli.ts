/**
 * `deno task persona <id> [--voice <voice>] [--param name=value …]`: prints what a call with persona `<id>` would
 * send (the same preview as the persona page): its engine and voice, the rendered instructions,
 * the opening session messages, the tools and any problems. Exits 1 when the persona cannot be
 * loaded or has problems.
 *
 * Reads PERSONAS_DIR (default ./personas) and OPENAI_REALTIME_MODEL from the environment; a model
 * startup refuses is refused here too. Everything printed is escaped as log lines are (`escapeLogText`).
 *
 * @module
 */

import { callParameterProblem, MAX_CALL_PARAMETERS } from "./calls/call_parameters.ts";
import { DEFAULT_REALTIME_MODEL } from "./config_sections.ts";
import { modelProblem } from "./engines/registry.ts";
import { escapeLogText } from "./log.ts";
import { loadPersonas, PersonaLoadError } from "./personas/loader.ts";
import { type PersonaPreview, previewPersona } from "./relay/preview.ts";

/** What `deno task persona --help` prints. */
export const PERSONA_USAGE = `usage: deno task persona <id> [--voice <voice>] [--param name=value …]

Prints what a call with persona <id> would send: its engine and voice, the rendered instructions,
the opening session messages, the tools offered to the model, and any problems.

  <id>                  the persona's file name without .ts (alex for personas/alex.ts)
  --param name=value    a call parameter, as POST /api/calls "parameters" takes it (repeatable)
  --voice <voice>       the call's voice, as POST /api/calls "voice" picks it
  -h, --help            print this help

Reads PERSONAS_DIR (default ./personas) and OPENAI_REALTIME_MODEL. Exits 1 on problems.`;

/** Parsed command line: a preview to print, or a request for help. */
export type PersonaCommand =
  | { help: true }
  | { help?: false; id: string; parameters: Record<string, string> };

/**
 * Parses `<id> [--voice <voice>] [--param name=value …]` or `--help`; throws an Error saying what is
 * wrong. Parameters follow the calls API's rule (`callParameterProblem`).
 */
export function parsePersonaArgs(args: readonly string[]): PersonaCommand {
  const usage = "usage: deno task persona <id> [--voice <voice>] [--param name=value …] (--help for more)";
  const parameters: Record<string, string> = {};
  let id: string | undefined;
  let voice: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--help" || arg === "-h") return { help: true };
    if (arg === "--param" || arg.startsWith("--param=")) {
      const pair = arg === "--param" ? args[++i] : arg.slice("--param=".length);
      const at = pair?.indexOf("=") ?? -1;
      if (pair === undefined || at <= 0) {
        throw new Error(`--param needs name=value, got "${pair ?? ""}": ${usage}`);
      }
      const name = pair.slice(0, at);
      if (name === "persona") throw new Error(`--param persona: name the persona as the first argument`);
      if (name === "voice") throw new Error(`--param voice: pick the voice with --voice <voice>`);
      const problem = callParameterProblem(name, pair.slice(at + 1));
      if (problem !== undefined) throw new Error(`--param ${name}: ${problem}`);
      parameters[name] = pair.slice(at + 1);
    } else if (arg === "--voice" || arg.startsWith("--voice=")) {
      voice = arg === "--voice" ? args[++i] : arg.slice("--voice=".length);
      if (voice === undefined || voice === "") throw new Error(`--voice needs a voice: ${usage}`);
    } else if (id === undefined && !arg.startsWith("-")) id = arg;
    else throw new Error(`Unexpected argument "${arg}": ${usage}`);
  }
  if (id === undefined) throw new Error(`Name a persona: ${usage}`);
  if (Object.keys(parameters).length > MAX_CALL_PARAMETERS) {
    throw new Error(
      `${Object.keys(parameters).length} parameters: at most ${MAX_CALL_PARAMETERS} are allowed`,
    );
  }
  return { id, parameters: voice === undefined ? parameters : { ...parameters, voice } };
}

/**
 * The preview as terminal text, escaped as the logger escapes a line (`escapeLogText`): what the persona
 * file says (a description, a field or tool name in a problem) never writes a control character. The
 * instructions and the JSON keep their line breaks, each line escaped; a problem is escaped whole.
 */
export function formatPreview(preview: PersonaPreview): string {
  const section = (title: string, body: string) =>
    `── ${title} ${"─".repeat(Math.max(0, 60 - title.length))}\n${body}\n`;
  const json = (value: unknown) => escapeLines(JSON.stringify(value, null, 2));
  return [
    escapeLogText(`Persona "${preview.id}": ${preview.description || "(no description)"}`),
    escapeLogText(`Engine ${preview.engine}, model ${preview.model}, voice ${preview.voice}`),
    escapeLogText(`Parameters: ${JSON.stringify(preview.parameters)}`),
    "",
    section(
      "Problems",
      preview.problems.length === 0
        ? "none"
        : preview.problems.map((p) => escapeLogText(`- ${p}`)).join("\n"),
    ),
    section("Instructions", escapeLines(preview.instructions ?? "(not rendered)")),
    section("Opening session messages", preview.openingMessages.map(json).join("\n")),
    section("Tools", preview.tools.length === 0 ? "none" : json(preview.tools)),
  ].join("\n");
}

/** A text whose line breaks are meant (instructions, indented JSON): each line escaped, the breaks kept. */
function escapeLines(text: string): string {
  return text.split("\n").map(escapeLogText).join("\n");
}

/** A line for stderr, escaped: it may quote an argument, a persona id or a file name. */
function printError(line: string): void {
  console.error(`❌ ${escapeLogText(line)}`);
}

async function main(args: string[]): Promise<number> {
  let command: PersonaCommand;
  try {
    command = parsePersonaArgs(args);
  } catch (error) {
    printError((error as Error).message);
    return 2;
  }
  if (command.help === true) {
    console.log(PERSONA_USAGE);
    return 0;
  }
  const dir = Deno.env.get("PERSONAS_DIR") || "./personas";
  // Trimmed, as startup reads it; a model startup refuses is refused here too, with the same line.
  const model = Deno.env.get("OPENAI_REALTIME_MODEL")?.trim() || DEFAULT_REALTIME_MODEL;
  const unserved = modelProblem(model);
  if (unserved !== undefined) {
    printError(`OPENAI_REALTIME_MODEL: ${unserved}`);
    return 1;
  }
  let personas;
  try {
    personas = await loadPersonas(dir, { defaultModel: model });
  } catch (error) {
    if (!(error instanceof PersonaLoadError)) throw error;
    // Each problem escaped whole: a line break in a field name stays inside its problem's line.
    console.error(`❌ ${new PersonaLoadError(error.problems.map(escapeLogText)).message}`);
    return 1;
  }
  const loaded = personas.get(command.id);
  if (loaded === undefined) {
    printError(`No persona "${command.id}" in ${dir}: found ${[...personas.keys()].join(", ")}`);
    return 1;
  }
  const preview = previewPersona(loaded, { defaultModel: model, parameters: command.parameters });
  console.log(formatPreview(preview));
  return preview.valid ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
