/**
 * The README is the user's manual: every environment variable, route, task, persona field and page
 * the code has is in it, and nothing it names is gone from the code. Each test reads README.md and the
 * sources (never the environment, `.env` or `personas/`) and names what is missing and where.
 */

import assert from "node:assert/strict";
// Loaded, so Deno has installed them where import.meta.resolve points (their sources are read below).
import "postgres";
import "ws";
import { ROUTES } from "../src/app/routes.ts";
import { DRIVER_ENV_VARIABLES, ENV_VARIABLES } from "../src/config_env.ts";
import { ENGINE_REGISTRY } from "../src/engines/registry.ts";
import { personaFieldNames } from "../src/personas/validate.ts";
import { CALLER_FIELDS, CHECK_KINDS, SCENARIO_FIELDS } from "../src/rehearsal/validate.ts";
import { README, readmeSection } from "../testing/readme.ts";

const ROOT = new URL("../", import.meta.url);
const TASKS: Record<string, string> = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;

/**
 * Variables no code of Parley's reads, which a library it imports reads and so needs `--allow-env`
 * for (Deno refuses a read the flag does not grant, even through `process.env`), by the package that
 * reads them: a test below finds each name in that package's own source.
 */
const LIBRARY_VARIABLES: Record<string, { pkg: string; why: string }> = {
  WS_NO_BUFFER_UTIL: { pkg: "ws", why: "npm:ws reads it when imported (the upstream sockets)" },
  WS_NO_UTF_8_VALIDATE: { pkg: "ws", why: "npm:ws reads it when imported (the upstream sockets)" },
  ...Object.fromEntries(DRIVER_ENV_VARIABLES.map((name) => [name, {
    pkg: "postgres",
    why: "npm:postgres reads it for what DATABASE_URL leaves out (src/config_env.ts DRIVER_ENV_VARIABLES)",
  }])),
};

/** A Markdown table: its header's first cell and its rows' cells (`\|` read as `|`). */
interface Table {
  header: string;
  rows: string[][];
}

/** The tables of `text`, in order. */
function tables(text: string): Table[] {
  const found: Table[] = [];
  let current: string[][] | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith("|")) {
      current = undefined;
      continue;
    }
    const cells = line.slice(1, line.lastIndexOf("|")).split(/(?<!\\)\|/).map((cell) =>
      cell.trim().replaceAll("\\|", "|")
    );
    if (current === undefined) {
      current = [];
      found.push({ header: cells[0]!, rows: current });
    } else if (!/^-+$/.test(cells[0]!)) {
      current.push(cells);
    }
  }
  return found;
}

/** The code spans of a cell, in order. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The names a table documents: the code spans of each row's first cell. */
function firstColumnNames(table: Table): string[] {
  return table.rows.flatMap((row) => codeSpans(row[0]!));
}

// ---------------------------------------------------------------------------------------------------
// 1. Variables

/** Source files of the server and its commands: `main.ts` and everything under `src/`. */
async function sourceFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (/\.(ts|js)$/.test(entry.name)) files.set(path, await Deno.readTextFile(new URL(path, ROOT)));
    }
  };
  files.set("main.ts", await Deno.readTextFile(new URL("main.ts", ROOT)));
  await walk("src/");
  return files;
}

/** Code lines of a source (comment lines left out: examples in JSDoc read nothing). */
function codeLines(source: string): string[] {
  return source.split("\n").filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line));
}

/** The variables a file reads by name (`Deno.env.get("X")`, `process.env.X`), and any read it cannot name. */
function envReads(source: string): { names: string[]; unnamed: string[] } {
  const names: string[] = [];
  const unnamed: string[] = [];
  for (const line of codeLines(source)) {
    for (
      const m of line.matchAll(/Deno\.env\.(get|toObject|has)\(([^)]*)\)|process\.env\b(\.\w+|\[[^\]]*\])?/g)
    ) {
      const literal = /^\s*["'`]([A-Z0-9_]+)["'`]\s*$/.exec(m[2] ?? "")?.[1] ??
        /^\.([A-Z0-9_]+)$|^\[["'`]([A-Z0-9_]+)["'`]\]$/.exec(m[3] ?? "")?.slice(1).find(Boolean);
      if (literal !== undefined) names.push(literal);
      else unnamed.push(line.trim());
    }
  }
  return { names, unnamed };
}

/** A task's `--allow-env` names; undefined when it grants none. */
function allowEnv(task: string): string[] | undefined {
  return TASKS[task]?.match(/--allow-env=(\S+)/)?.[1]?.split(",");
}

Deno.test("README reference: every variable Parley reads is granted by dev and start and documented", async () => {
  const read = new Map<string, string>(
    ENV_VARIABLES.map((name) => [name, "src/config_env.ts (ENV_VARIABLES)"]),
  );
  const files = await sourceFiles();
  for (const [path, source] of files) {
    const { names, unnamed } = envReads(source);
    for (const name of names) if (!read.has(name)) read.set(name, path);
    // readEnv reads ENV_VARIABLES one by one; a read by a computed name elsewhere cannot be checked.
    const unchecked = path === "src/config_env.ts"
      ? unnamed.filter((line) => line !== "const value = Deno.env.get(name);")
      : unnamed;
    assert.deepEqual(unchecked, [], `${path} reads the environment by a name this test cannot see`);
  }

  const dev = allowEnv("dev");
  const start = allowEnv("start");
  assert.ok(dev !== undefined && start !== undefined, "deno.json's dev and start tasks have --allow-env");
  for (const [task, list] of [["dev", dev], ["start", start]] as const) {
    for (const [name, where] of read) {
      assert.ok(
        list.includes(name),
        `deno.json's ${task} task lacks --allow-env for ${name} (read in ${where})`,
      );
    }
    for (const name of list) {
      assert.ok(
        read.has(name) || name in LIBRARY_VARIABLES,
        `deno.json's ${task} task grants --allow-env for ${name}, which neither Parley (src/, main.ts) nor ` +
          `a library in LIBRARY_VARIABLES (tests/readme_reference_test.ts) reads`,
      );
    }
  }
  assert.deepEqual(
    [...dev].sort(),
    [...start].sort(),
    "deno.json's dev and start tasks grant the same --allow-env",
  );
  for (const name of Object.keys(LIBRARY_VARIABLES)) {
    assert.ok(
      dev.includes(name),
      `deno.json's dev task lacks --allow-env for ${name} (${
        LIBRARY_VARIABLES[name]!.why
      }); if nothing reads ` +
        `it any more, drop it from LIBRARY_VARIABLES`,
    );
    assert.ok(
      README.includes(`\`${name}\``),
      `README never names \`${name}\` (${LIBRARY_VARIABLES[name]!.why})`,
    );
  }

  // The other commands that read the configuration (readEnv) need every variable too, or they fail.
  for (const task of ["setup-number", "rehearse"]) {
    const list = allowEnv(task) ?? [];
    for (const name of ENV_VARIABLES) {
      assert.ok(
        list.includes(name),
        `deno.json's ${task} task lacks --allow-env for ${name} (src/config_env.ts)`,
      );
    }
    for (const name of list) {
      assert.ok(
        read.has(name) || name in LIBRARY_VARIABLES,
        `deno.json's ${task} task grants --allow-env for ${name}, which nothing it runs reads`,
      );
    }
  }
  // `deno task persona` reads only what src/persona_cli.ts names.
  const personaReads = envReads(files.get("src/persona_cli.ts") ?? "").names;
  assert.deepEqual(
    allowEnv("persona")?.sort(),
    [...new Set(personaReads)].sort(),
    "deno.json's persona task",
  );

  const documented = new Set(
    tables(readmeSection("Configuration") + readmeSection("Running several instances"))
      .filter((table) => table.header === "variable")
      .flatMap(firstColumnNames),
  );
  for (const [name, where] of read) {
    assert.ok(documented.has(name), `README's Configuration table lacks \`${name}\` (read in ${where})`);
  }
  for (const name of documented) {
    assert.ok(read.has(name), `README's Configuration tables document \`${name}\`, which Parley never reads`);
  }
});

// ---------------------------------------------------------------------------------------------------
// 2. Routes, 5. pages

const METHODS = ["GET", "POST", "PATCH", "DELETE"];

/** A route as the README's Routes table documents it. */
interface DocumentedRoute {
  method: string;
  path: string;
  guard: string;
  bodyLimit: number | "none" | "websocket";
  row: string;
}

/** A path with its variable parts (`:id`, `<token>`, `*`, `a|b`) made alike, and its query dropped. */
function pathShape(path: string): string {
  return path.split("?")[0]!.split("/").map((segment) =>
    /^[:<*…]/.test(segment) || segment.includes("|") ? "{}" : segment
  ).join("/");
}

/** A body limit as the README writes it (`64 KiB`, `none`, `WebSocket handshake`), at the start of `text`. */
function bodyLimitOf(text: string, row: string): DocumentedRoute["bodyLimit"] {
  const m = /^(none|WebSocket handshake|(\d+) (B|KiB|MiB))/.exec(text.trim());
  assert.ok(m !== null, `README's Routes table, row ${row}: "${text}" is not a body limit`);
  if (m[1] === "none") return "none";
  if (m[1] === "WebSocket handshake") return "websocket";
  return Number(m[2]) * { B: 1, KiB: 1024, MiB: 1024 * 1024 }[m[3] as "B" | "KiB" | "MiB"];
}

/** A body limit in the README's words: `64 KiB`, `none`, `WebSocket handshake`. */
function limitWords(limit: DocumentedRoute["bodyLimit"]): string {
  if (limit === "none") return "none";
  if (limit === "websocket") return "WebSocket handshake";
  if (limit % (1024 * 1024) === 0) return `${limit / (1024 * 1024)} MiB`;
  return limit % 1024 === 0 ? `${limit / 1024} KiB` : `${limit} B`;
}

/** Every route the README's Routes table names, with the guard and body limit its row gives it. */
function documentedRoutes(): DocumentedRoute[] {
  const table = tables(readmeSection("Routes")).find((t) => t.header === "route");
  assert.ok(table !== undefined, "README's Routes section has a table whose first column is `route`");
  const guards = new Set<string>(ROUTES.map((route) => route.guard));
  const documented: DocumentedRoute[] = [];
  for (const [routeCell, guardCell = "", limitCell = ""] of table.rows) {
    const row = `"${routeCell!.slice(0, 60)}"`;
    // `GET`/`PATCH`/`DELETE /api/leads/:id`, `/calls` (the method before it), `POST /login`
    const items: { method: string; path: string }[] = [];
    let pending: string[] = [];
    let last = "GET";
    for (const span of codeSpans(routeCell!)) {
      const [word, path] = span.startsWith("/") ? [undefined, span] : span.split(" ");
      if (word !== undefined && !METHODS.includes(word)) continue;
      if (path === undefined) {
        pending.push(word!);
        continue;
      }
      for (const method of word === undefined ? [last] : [...pending, word]) items.push({ method, path });
      last = word ?? last;
      pending = [];
    }
    assert.ok(items.length > 0, `README's Routes table, row ${row}: names no route`);
    const guardParts = guardCell.split(" / ");
    const rowGuards = guardParts.length === items.length && items.length > 1
      ? guardParts.map((part) => codeSpans(part)[0])
      : items.map(() => codeSpans(guardCell)[0]);
    const limitParts = limitCell.split(" / ");
    const overrides = new Map(
      [...limitCell.matchAll(new RegExp(`\\b(${METHODS.join("|")}): ([^,;)]+)`, "g"))].map((
        m,
      ) => [m[1]!, m[2]!]),
    );
    if (limitParts.length > 1) {
      assert.equal(
        limitParts.length,
        items.length,
        `README's Routes table, row ${row}: one body limit per route`,
      );
    }
    items.forEach(({ method, path }, i) => {
      const guard = rowGuards[i];
      assert.ok(
        guard !== undefined && guards.has(guard),
        `README's Routes table, row ${row}: "${guard}" is not a guard of src/app/routes.ts`,
      );
      const limitText = limitParts.length > 1 ? limitParts[i]! : overrides.get(method) ?? limitCell;
      documented.push({ method, path, guard, bodyLimit: bodyLimitOf(limitText, row), row });
    });
  }
  return documented;
}

async function exists(url: URL): Promise<boolean> {
  return await Deno.stat(url).then(() => true, () => false);
}

/** The text of every `.js`, `.mjs` and `.cjs` file below `folder` (a package's own; none of its dependencies). */
async function scriptsBelow(folder: URL): Promise<string[]> {
  const texts: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isDirectory && entry.name !== "node_modules") {
      texts.push(...await scriptsBelow(new URL(`${entry.name}/`, folder)));
    } else if (entry.isFile && /\.[cm]?js$/.test(entry.name)) {
      texts.push(await Deno.readTextFile(new URL(entry.name, folder)));
    }
  }
  return texts;
}

Deno.test("README reference: every variable granted for a library is one that library's source reads", async () => {
  const sources = new Map<string, string>();
  for (const pkg of new Set(Object.values(LIBRARY_VARIABLES).map((v) => v.pkg))) {
    // The package as Deno resolves it from deno.json (its npm cache): every script below its root.
    let root = new URL("./", import.meta.resolve(pkg));
    while (!(await exists(new URL("package.json", root)))) {
      assert.notEqual(
        root.pathname,
        "/",
        `npm:${pkg} is not installed where Deno resolves it (${import.meta.resolve(pkg)})`,
      );
      root = new URL("../", root);
    }
    const text = (await scriptsBelow(root)).join("\n");
    sources.set(pkg, text);
  }
  for (const [name, { pkg }] of Object.entries(LIBRARY_VARIABLES)) {
    assert.ok(
      sources.get(pkg)!.includes(name),
      `npm:${pkg} (${
        import.meta.resolve(pkg)
      }) never names ${name}: drop it from --allow-env and LIBRARY_VARIABLES`,
    );
  }
});

Deno.test("README reference: the Routes table has every route of src/app/routes.ts, its guard and body limit", () => {
  const documented = documentedRoutes();
  const problems: string[] = [];
  for (const route of ROUTES) {
    const where = `${route.method} ${route.path}`;
    const doc = documented.find((d) =>
      d.method === route.method && pathShape(d.path) === pathShape(route.path)
    );
    if (doc === undefined) {
      problems.push(
        `README's Routes table lacks \`${where}\` (src/app/routes.ts: guard ${route.guard}, body limit ${
          limitWords(route.bodyLimit)
        })`,
      );
      continue;
    }
    if (doc.guard !== route.guard) {
      problems.push(
        `README's Routes table gives \`${where}\` guard ${doc.guard}; src/app/routes.ts says ${route.guard}`,
      );
    }
    if (doc.bodyLimit !== route.bodyLimit) {
      problems.push(
        `README's Routes table gives \`${where}\` body limit ${
          limitWords(doc.bodyLimit)
        }; src/app/routes.ts says ${limitWords(route.bodyLimit)}`,
      );
    }
  }
  for (const doc of documented) {
    if (!ROUTES.some((r) => r.method === doc.method && pathShape(r.path) === pathShape(doc.path))) {
      problems.push(
        `README's Routes table names \`${doc.method} ${doc.path}\` (row ${doc.row}), which src/app/routes.ts lacks`,
      );
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("README reference: every page is described outside the Routes table, and every described page exists", () => {
  const pages: string[] = ROUTES.filter((route) => route.handler === "page").map((route) => route.path);
  assert.ok(pages.includes("/calling"), "the route table's pages include /calling");
  const prose = README.replace(readmeSection("Routes"), "");
  for (const path of pages) {
    assert.ok(
      prose.includes(`\`${path}\``),
      `README describes no page \`${path}\` (a page route of src/app/routes.ts)`,
    );
  }
  // The calling page's list: "- **Calls** (`/calls`): …"
  const described = [...readmeSection("The calling page").matchAll(/^- \*\*[^*]+\*\* \(`([^`]+)`\)/gm)].map((
    m,
  ) => m[1]!);
  assert.ok(described.length > 0, "README's calling page section lists the pages");
  for (const path of described) {
    assert.ok(
      pages.includes(path),
      `README's calling page section describes \`${path}\`, which is no page route`,
    );
  }
});

// ---------------------------------------------------------------------------------------------------
// 3. Tasks

Deno.test("README reference: the Tasks table has every task of deno.json, and every task the README names exists", () => {
  const table = tables(readmeSection("Tasks")).find((t) => t.header === "task");
  assert.ok(table !== undefined, "README's Tasks section has a table whose first column is `task`");
  // `deno task check` / `lint` / `fmt`
  const listed = table.rows.flatMap((row) => {
    const spans = codeSpans(row[0]!);
    const first = /^deno task ([\w-]+)/.exec(spans[0] ?? "")?.[1];
    return first === undefined ? [] : [first, ...spans.slice(1).filter((s) => /^[\w-]+$/.test(s))];
  });
  for (const task of Object.keys(TASKS)) {
    assert.ok(listed.includes(task), `README's Tasks table lacks \`deno task ${task}\` (deno.json)`);
  }
  const named = [...README.matchAll(/\bdeno(?:@[\d.]+)? task ([\w-]+)/g)].map((m) => m[1]!);
  for (const task of new Set([...listed, ...named])) {
    assert.ok(task in TASKS, `README names \`deno task ${task}\`, which deno.json lacks`);
  }
});

// ---------------------------------------------------------------------------------------------------
// 4. Persona fields

Deno.test("README reference: every persona field the validator accepts is in the Personas or Actions table", () => {
  const fields = personaFieldNames(ENGINE_REGISTRY);
  assert.ok(fields.includes("voice") && fields.includes("vad"), "common and engine fields both read");
  const documented = new Set(
    tables(readmeSection("Personas") + readmeSection("Actions")).filter((t) => t.header === "field").flatMap(
      firstColumnNames,
    ),
  );
  for (const field of fields) {
    assert.ok(
      documented.has(field),
      `README's Personas table lacks \`${field}\` (a field src/personas/validate.ts accepts)`,
    );
  }
  for (const field of documented) {
    assert.ok(
      fields.includes(field),
      `README's Personas tables document \`${field}\`, which the validator refuses`,
    );
  }
});

Deno.test("README reference: the Rehearsals section has every scenario field and kind of check, and no other", () => {
  const text = readmeSection("Rehearsals");
  // The first cell of each table row: `persona`, `caller.voice`, `endReason: "agent_hung_up"`…
  const named = new Set(
    text.split("\n").flatMap((line) => /^\| `([\w.]+)[`:]/.exec(line)?.[1] ?? []),
  );
  const fields = [
    ...Object.keys(SCENARIO_FIELDS).filter((field) => field !== "caller"),
    ...CALLER_FIELDS.map((field) => `caller.${field}`),
  ];
  for (const name of [...fields, ...CHECK_KINDS]) {
    assert.ok(
      named.has(name),
      `README's Rehearsals tables lack \`${name}\` (src/rehearsal/validate.ts accepts it)`,
    );
  }
  for (const name of named) {
    assert.ok(
      fields.includes(name) || (CHECK_KINDS as readonly string[]).includes(name),
      `README's Rehearsals tables describe \`${name}\`, which src/rehearsal/validate.ts does not accept`,
    );
  }
});
