/**
 * A small runtime schema for JSON events, enough to transcribe a TypeScript event union (the
 * OpenAI SDK's) and answer a non-conforming event the way OpenAI's servers do: one error naming the
 * first faulty parameter, with the codes OpenAI uses (`unknown_parameter`,
 * `missing_required_parameter`, `invalid_type`, `invalid_value`, `array_above_max_length`).
 * Used by the GPT-Live fake (`live_schema.ts`).
 *
 * @module
 */

/** An OpenAI request error (the `error` of an `error` server event). */
export interface WireError {
  type: "invalid_request_error";
  code: string;
  message: string;
  param?: string;
}

/** The shape of a JSON value a schema accepts. */
export type Schema =
  | { kind: "string"; base64?: boolean }
  | { kind: "number"; integer?: boolean }
  | { kind: "boolean" }
  | { kind: "enum"; values: readonly (string | number)[] }
  | { kind: "nullable"; of: Schema }
  | { kind: "array"; of: Schema; max?: number; length?: number }
  | { kind: "object"; fields: Record<string, Schema>; required: readonly string[] }
  | { kind: "anyObject" }
  | { kind: "union"; key: string; variants: Record<string, Schema>; otherwise?: Schema }
  | { kind: "oneOf"; of: readonly Schema[]; expected: string }
  | { kind: "unsupported"; shape?: Shape };

/** The JSON shape of a value, to pick the branch of a `oneOf`. */
type Shape = "string" | "number" | "boolean" | "object" | "array" | "null";

/** A string. */
export const str: Schema = { kind: "string" };
/** An integer. */
export const int: Schema = { kind: "number", integer: true };
/** A boolean. */
export const bool: Schema = { kind: "boolean" };
/** Defined by the types, not implemented by the fake: answered `fake_unsupported`. */
export const unsupported: Schema = { kind: "unsupported" };
/** `of` or null. */
export const nullable = (of: Schema): Schema => ({ kind: "nullable", of });
/** One of these literal values. */
export const oneOf = (values: readonly (string | number)[]): Schema => ({ kind: "enum", values });
/** An object with exactly these fields (unknown ones are refused), `required` among them. */
export const obj = (fields: Record<string, Schema>, required: readonly string[] = []): Schema => ({
  kind: "object",
  fields,
  required,
});
/** A client command: `type`, an optional `event_id`, and its fields. */
export const command = (type: string, fields: Record<string, Schema> = {}, required: string[] = []): Schema =>
  obj({ type: oneOf([type]), event_id: nullable(str), ...fields }, ["type", ...required]);

/** Checks `value` against `schema`; undefined when it conforms, else the first error. */
export function check(schema: Schema, value: unknown, path: string): WireError | undefined {
  switch (schema.kind) {
    case "string":
      if (typeof value !== "string") return wrongType(path, "a string", value);
      if (schema.base64 === true && !(value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value))) {
        return fail("invalid_value", `Invalid '${path}': not valid base64.`, path);
      }
      return undefined;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) return wrongType(path, "a number", value);
      return schema.integer === true && !Number.isInteger(value)
        ? wrongType(path, "an integer", value)
        : undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : wrongType(path, "a boolean", value);
    case "enum":
      return schema.values.includes(value as string | number) ? undefined : fail(
        "invalid_value",
        `Invalid value: '${String(value)}'. Supported values are: ${
          schema.values.map((v) => `'${v}'`).join(", ")
        }.`,
        path,
      );
    case "nullable":
      return value === null ? undefined : check(schema.of, value, path);
    case "array":
      return checkArray(schema, value, path);
    case "object":
      return checkObject(schema, value, path);
    case "anyObject":
      return isObject(value) ? undefined : wrongType(path, "an object", value);
    case "union": {
      if (!isObject(value)) return wrongType(path, "an object", value);
      const key = join(path, schema.key);
      const tag = value[schema.key];
      const variant = schema.variants[String(tag)] ?? schema.otherwise;
      if (tag === undefined && variant === undefined) {
        return fail("missing_required_parameter", `Missing required parameter: '${key}'.`, key);
      }
      if (variant === undefined) return check(oneOf(Object.keys(schema.variants)), tag, key);
      return check(variant, value, path);
    }
    case "oneOf": {
      const branch = schema.of.find((s) => shapeOf(s) === shapeOfValue(value));
      return branch === undefined ? wrongType(path, schema.expected, value) : check(branch, value, path);
    }
    case "unsupported":
      return fail(
        "fake_unsupported",
        `The fake does not implement '${path}' (the types define it); extend its schema.`,
        path,
      );
  }
}

function checkArray(schema: Extract<Schema, { kind: "array" }>, value: unknown, path: string) {
  if (!Array.isArray(value)) return wrongType(path, "an array", value);
  if (schema.max !== undefined && value.length > schema.max) {
    return fail(
      "array_above_max_length",
      `Invalid '${path}': array too long. Expected an array with maximum length ${schema.max}, but got an array with length ${value.length} instead.`,
      path,
    );
  }
  if (schema.length !== undefined && value.length !== schema.length) {
    return fail("invalid_value", `Invalid '${path}': supply exactly ${schema.length} part(s).`, path);
  }
  for (let i = 0; i < value.length; i++) {
    const error = check(schema.of, value[i], `${path}[${i}]`);
    if (error !== undefined) return error;
  }
  return undefined;
}

function checkObject(schema: Extract<Schema, { kind: "object" }>, value: unknown, path: string) {
  if (!isObject(value)) return wrongType(path, "an object", value);
  for (const key of Object.keys(value)) {
    if (!(key in schema.fields)) {
      return fail("unknown_parameter", `Unknown parameter: '${join(path, key)}'.`, join(path, key));
    }
  }
  for (const key of schema.required) {
    if (value[key] === undefined) {
      return fail(
        "missing_required_parameter",
        `Missing required parameter: '${join(path, key)}'.`,
        join(path, key),
      );
    }
  }
  for (const [key, field] of Object.entries(schema.fields)) {
    if (value[key] === undefined) continue;
    const error = check(field, value[key], join(path, key));
    if (error !== undefined) return error;
  }
  return undefined;
}

function shapeOf(schema: Schema): Shape | undefined {
  switch (schema.kind) {
    case "string":
    case "number":
    case "boolean":
      return schema.kind;
    case "enum":
      return typeof schema.values[0] === "number" ? "number" : "string";
    case "array":
      return "array";
    case "object":
    case "anyObject":
    case "union":
      return "object";
    case "unsupported":
      return schema.shape;
    default:
      return undefined;
  }
}

function shapeOfValue(value: unknown): Shape {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const type = typeof value;
  return type === "string" || type === "number" || type === "boolean" ? type : "object";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function wrongType(path: string, expected: string, value: unknown): WireError {
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
  return fail(
    "invalid_type",
    `Invalid type for '${path}': expected ${expected}, but got ${got} instead.`,
    path,
  );
}

/** A Live error of type `invalid_request_error`. */
export function fail(code: string, message: string, param: string | undefined): WireError {
  return { type: "invalid_request_error", code, message, ...(param === undefined ? {} : { param }) };
}
