/**
 * The JSON schema a persona's `analysis` declares: what OpenAI's strict structured output accepts
 * (checked at persona load, naming the part it refuses), and a check of an answer against it.
 *
 * Strict mode (Responses API, `text.format: { type: "json_schema", strict: true }`) takes a subset
 * of JSON Schema: every object lists all its properties in `required` and sets
 * `additionalProperties: false`; the root is an object (not `anyOf`); at most 5 levels of nesting and
 * 100 properties in all; only the keywords in {@linkcode ALLOWED_KEYWORDS}.
 *
 * @module
 */

/** A JSON schema as a persona writes it. */
export type JsonSchema = { [keyword: string]: unknown };

/** The types a JSON schema's `type` may name (alone, or in a list). */
export const JSON_SCHEMA_TYPES = [
  "object",
  "array",
  "string",
  "number",
  "integer",
  "boolean",
  "null",
] as const;

/** Keywords strict mode takes, by the schema's type (plus those any schema may carry). */
const ALLOWED_KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  any: ["type", "description", "title", "enum", "const", "anyOf", "$ref", "$defs", "definitions"],
  object: ["properties", "required", "additionalProperties"],
  array: ["items", "minItems", "maxItems"],
  string: ["pattern", "format"],
  number: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"],
  integer: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"],
  boolean: [],
  null: [],
};

const MAX_DEPTH = 5;
const MAX_PROPERTIES = 100;

/**
 * The parts of `schema` that strict structured output refuses, each as `<path>: <what>; <fix>`,
 * the path written like `schema.properties.day.type`. Empty when the API will take it.
 *
 * @example
 * ```ts
 * strictSchemaProblems({ type: "object", properties: { a: { type: "string" } } }, "schema");
 * // ['schema: additionalProperties: must be false in strict mode; add additionalProperties: false',
 * //  'schema.required: must list every property; "a" is missing']
 * ```
 */
export function strictSchemaProblems(schema: unknown, path: string): string[] {
  const problems: string[] = [];
  if (!isObject(schema)) {
    return [`${path}: ${describe(schema)} is not a JSON schema; write { type: "object", properties: { … } }`];
  }
  if (schema.type !== "object") {
    problems.push(
      `${path}.type: ${describe(schema.type)} is not "object"; the root of an analysis schema is an object`,
    );
    return problems;
  }
  const count = { properties: 0 };
  checkNode(schema, path, 1, count, problems);
  if (count.properties > MAX_PROPERTIES) {
    problems.push(
      `${path}: ${count.properties} properties in all; strict mode takes at most ${MAX_PROPERTIES}`,
    );
  }
  return problems;
}

function checkNode(
  node: JsonSchema,
  path: string,
  depth: number,
  count: { properties: number },
  problems: string[],
): void {
  if (typeof node.$ref === "string") return;
  if (Array.isArray(node.anyOf)) {
    node.anyOf.forEach((branch, i) => {
      if (isObject(branch)) checkNode(branch, `${path}.anyOf[${i}]`, depth, count, problems);
      else problems.push(`${path}.anyOf[${i}]: ${describe(branch)} is not a schema`);
    });
    return;
  }
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (node.type === undefined && node.enum === undefined && node.const === undefined) {
    problems.push(`${path}.type: missing; strict mode needs a type (${JSON_SCHEMA_TYPES.join(", ")})`);
    return;
  }
  for (const type of types) {
    if (type !== undefined && !(JSON_SCHEMA_TYPES as readonly unknown[]).includes(type)) {
      problems.push(
        `${path}.type: ${describe(type)} is not a JSON schema type; use one of ${
          JSON_SCHEMA_TYPES.join(", ")
        }`,
      );
      return;
    }
  }
  const allowed = new Set([
    ...ALLOWED_KEYWORDS.any!,
    ...types.flatMap((type) => ALLOWED_KEYWORDS[String(type)] ?? []),
  ]);
  for (const keyword of Object.keys(node)) {
    if (!allowed.has(keyword)) {
      problems.push(`${path}.${keyword}: strict mode does not take this keyword here; remove it`);
    }
  }
  for (const defsKey of ["$defs", "definitions"]) {
    const defs = node[defsKey];
    if (isObject(defs)) {
      for (const [name, def] of Object.entries(defs)) {
        if (isObject(def)) checkNode(def, `${path}.${defsKey}.${name}`, depth, count, problems);
      }
    }
  }
  if (types.includes("object")) checkObject(node, path, depth, count, problems);
  if (types.includes("array")) {
    if (!isObject(node.items)) {
      problems.push(`${path}.items: missing; say what the array holds, e.g. items: { type: "string" }`);
    } else checkNode(node.items, `${path}.items`, depth + 1, count, problems);
  }
  if (node.enum !== undefined && (!Array.isArray(node.enum) || node.enum.length === 0)) {
    problems.push(`${path}.enum: ${describe(node.enum)} is not a non-empty list of values`);
  }
}

function checkObject(
  node: JsonSchema,
  path: string,
  depth: number,
  count: { properties: number },
  problems: string[],
): void {
  if (depth > MAX_DEPTH) {
    problems.push(`${path}: nested ${depth} objects deep; strict mode takes at most ${MAX_DEPTH} levels`);
    return;
  }
  if (node.additionalProperties !== false) {
    problems.push(
      `${path}.additionalProperties: must be false in strict mode; add additionalProperties: false`,
    );
  }
  const properties = node.properties;
  if (!isObject(properties)) {
    problems.push(`${path}.properties: missing; list the fields the analysis fills`);
    return;
  }
  const required = Array.isArray(node.required) ? node.required : [];
  if (!Array.isArray(node.required)) {
    problems.push(
      `${path}.required: missing; strict mode needs every property listed (make one optional with type: [..., "null"])`,
    );
  }
  for (const [name, property] of Object.entries(properties)) {
    count.properties++;
    if (Array.isArray(node.required) && !required.includes(name)) {
      problems.push(
        `${path}.required: "${name}" is missing; strict mode needs every property listed (make it optional with type: [..., "null"])`,
      );
    }
    const inner = `${path}.properties.${name}`;
    if (isObject(property)) checkNode(property, inner, depth + 1, count, problems);
    else problems.push(`${inner}: ${describe(property)} is not a schema`);
  }
  for (const name of required) {
    if (typeof name !== "string" || !Object.hasOwn(properties, name)) {
      problems.push(`${path}.required: ${describe(name)} is not one of the properties`);
    }
  }
}

/**
 * Where `value` breaks `schema` (a schema {@linkcode strictSchemaProblems} accepted), each as
 * `<path>: <what>`, e.g. `outcome.day: 3 is not string`. Empty when it fits.
 */
export function valueProblems(value: unknown, schema: JsonSchema, path = "outcome", root = schema): string[] {
  if (typeof schema.$ref === "string") {
    const target = resolveRef(root, schema.$ref);
    return target === undefined
      ? [`${path}: unresolved $ref ${schema.$ref}`]
      : valueProblems(value, target, path, root);
  }
  if (Array.isArray(schema.anyOf)) {
    const fits = schema.anyOf.some((branch) =>
      isObject(branch) && valueProblems(value, branch, path, root).length === 0
    );
    return fits ? [] : [`${path}: ${describe(value)} fits none of anyOf`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => sameJson(option, value))) {
    return [
      `${path}: ${describe(value)} is not one of ${schema.enum.map((o) => JSON.stringify(o)).join(", ")}`,
    ];
  }
  if (schema.const !== undefined && !sameJson(schema.const, value)) {
    return [`${path}: ${describe(value)} is not ${JSON.stringify(schema.const)}`];
  }
  if (schema.type === undefined) return [];
  const types = Array.isArray(schema.type) ? schema.type as string[] : [schema.type as string];
  const type = types.find((t) => hasType(value, t));
  if (type === undefined) return [`${path}: ${describe(value)} is not ${types.join(" or ")}`];
  const problems: string[] = [];
  if (type === "object" && isObject(value)) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    for (const name of Array.isArray(schema.required) ? schema.required as string[] : []) {
      if (!Object.hasOwn(value, name)) problems.push(`${path}.${name}: missing`);
    }
    for (const [name, field] of Object.entries(value)) {
      const fieldSchema = properties[name];
      if (isObject(fieldSchema)) problems.push(...valueProblems(field, fieldSchema, `${path}.${name}`, root));
      else if (schema.additionalProperties === false) problems.push(`${path}.${name}: not in the schema`);
    }
  }
  if (type === "array" && Array.isArray(value) && isObject(schema.items)) {
    const items = schema.items;
    value.forEach((item, i) => problems.push(...valueProblems(item, items, `${path}[${i}]`, root)));
  }
  return problems;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "object":
      return isObject(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
  }
  return false;
}

function resolveRef(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (ref === "#") return root;
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = root;
  for (const part of ref.slice(2).split("/")) node = isObject(node) ? node[part] : undefined;
  return isObject(node) ? node : undefined;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
