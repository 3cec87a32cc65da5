/**
 * FakeResponsesServer: a scripted OpenAI Responses API (`POST /v1/responses`) on 127.0.0.1, port 0,
 * written from npm openai@7.57.0's Responses types. It refuses what the API refuses, with the API's
 * error shape (`{ error: { message, type, param, code } }`, 400 or 401): an unknown parameter, a
 * missing `model` or `input`, a `text.format` json_schema that strict mode rejects (an object without
 * `additionalProperties: false`, or with a property not in `required`), a bad schema name. A valid
 * request is answered with the scripted judgement as the output message's `output_text`.
 *
 * @module
 */

import type { Response as ApiResponse, ResponseCreateParamsBase } from "openai/resources/responses/responses";

/** Every parameter the API takes (the SDK's own list: a parameter added there must be added here). */
const KNOWN_PARAMETERS: { [K in keyof ResponseCreateParamsBase]-?: true } = {
  access_programs: true,
  background: true,
  context_management: true,
  conversation: true,
  image: true,
  include: true,
  input: true,
  instructions: true,
  max_output_tokens: true,
  max_tool_calls: true,
  metadata: true,
  model: true,
  moderation: true,
  parallel_tool_calls: true,
  previous_response_id: true,
  prompt: true,
  prompt_cache_key: true,
  prompt_cache_options: true,
  prompt_cache_retention: true,
  reasoning: true,
  safety_identifier: true,
  service_tier: true,
  store: true,
  stream: true,
  stream_options: true,
  temperature: true,
  text: true,
  tool_choice: true,
  tools: true,
  top_logprobs: true,
  top_p: true,
  truncation: true,
  user: true,
};

/** The body the fake answers a valid request with (`output_text` is the SDK's, not the wire's). */
export type ResponseBody = Omit<ApiResponse, "output_text">;

/** What the fake answers a valid request with: the judgement's JSON text, per request. */
export type JudgementScript = (request: Record<string, unknown>) => unknown;

/** A request the fake received, and what it answered. */
export interface ReceivedRequest {
  body: Record<string, unknown> | undefined;
  authorization: string | null;
  status: number;
}

/** A scripted Responses API. */
export class FakeResponsesServer {
  /** Every request, in order. */
  readonly requests: ReceivedRequest[] = [];
  /** The key the fake accepts. */
  readonly apiKey: string;
  script: JudgementScript;
  #server: Deno.HttpServer<Deno.NetAddr>;

  private constructor(apiKey: string, script: JudgementScript) {
    this.apiKey = apiKey;
    this.script = script;
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const authorization = request.headers.get("authorization");
      const text = await request.text();
      let body: Record<string, unknown> | undefined;
      try {
        const parsed = JSON.parse(text);
        body = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : undefined;
      } catch {
        body = undefined;
      }
      const answer = this.#answer(request, authorization, body);
      this.requests.push({ body, authorization, status: answer.status });
      return answer;
    });
  }

  /** Starts the fake; `script` gives the judgement (an object, sent as JSON text). */
  static start(apiKey: string, script: JudgementScript): FakeResponsesServer {
    return new FakeResponsesServer(apiKey, script);
  }

  /** OPENAI_BASE_URL for this fake. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/v1`;
  }

  /** Stops the fake. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  #answer(
    request: Request,
    authorization: string | null,
    body: Record<string, unknown> | undefined,
  ): Response {
    const url = new URL(request.url);
    if (request.method !== "POST" || url.pathname !== "/v1/responses") {
      return apiError(404, `Invalid URL (${request.method} ${url.pathname})`, null, null);
    }
    if (authorization !== `Bearer ${this.apiKey}`) {
      return apiError(401, "Incorrect API key provided.", null, "invalid_api_key");
    }
    if (body === undefined) {
      return apiError(400, "We could not parse the JSON body of your request.", null, null);
    }
    for (const key of Object.keys(body)) {
      if (!(key in KNOWN_PARAMETERS)) {
        return apiError(400, `Unknown parameter: '${key}'.`, key, "unknown_parameter");
      }
    }
    if (typeof body.model !== "string" || body.model === "") {
      return apiError(400, "Missing required parameter: 'model'.", "model", "missing_required_parameter");
    }
    if (typeof body.input !== "string" && !Array.isArray(body.input)) {
      return apiError(
        400,
        "Invalid type for 'input': expected a string or an array.",
        "input",
        "invalid_type",
      );
    }
    const formatProblem = checkFormat((body.text as { format?: unknown } | undefined)?.format);
    if (formatProblem !== undefined) {
      return apiError(400, formatProblem.message, formatProblem.param, formatProblem.code);
    }
    const judgement = JSON.stringify(this.script(body));
    const created = Math.floor(Date.now() / 1000);
    const answer: ResponseBody = {
      id: `resp_${crypto.randomUUID().replaceAll("-", "")}`,
      object: "response",
      created_at: created,
      completed_at: created,
      status: "completed",
      access_programs: null,
      error: null,
      incomplete_details: null,
      instructions: typeof body.instructions === "string" ? body.instructions : null,
      metadata: null,
      model: body.model,
      output: [{
        id: `msg_${crypto.randomUUID().replaceAll("-", "")}`,
        type: "message",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: judgement, annotations: [] }],
      }],
      parallel_tool_calls: true,
      temperature: 1,
      tool_choice: "auto",
      tools: [],
      top_p: 1,
      usage: {
        input_tokens: 1000,
        input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
        output_tokens: 200,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 1200,
      },
    };
    return Response.json(answer);
  }
}

function apiError(status: number, message: string, param: string | null, code: string | null): Response {
  return Response.json({ error: { message, type: "invalid_request_error", param, code } }, { status });
}

/** What strict structured output refuses in `text.format`. */
function checkFormat(format: unknown): { message: string; param: string; code: string } | undefined {
  if (format === undefined) return undefined;
  const f = format as Record<string, unknown>;
  if (f.type === "text" || f.type === "json_object") return undefined;
  if (f.type !== "json_schema") {
    return {
      message: `Invalid value: '${String(f.type)}'.`,
      param: "text.format.type",
      code: "invalid_value",
    };
  }
  if (typeof f.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(f.name)) {
    return {
      message: "Invalid 'text.format.name': must match ^[a-zA-Z0-9_-]{1,64}$.",
      param: "text.format.name",
      code: "invalid_value",
    };
  }
  if (typeof f.schema !== "object" || f.schema === null) {
    return {
      message: "Missing required parameter: 'text.format.schema'.",
      param: "text.format.schema",
      code: "missing_required_parameter",
    };
  }
  if (f.strict !== true) return undefined;
  const problem = strictProblem(f.schema as Record<string, unknown>, "");
  return problem === undefined ? undefined : {
    message: `Invalid schema for response_format '${f.name}': In context=(${problem}).`,
    param: "text.format.schema",
    code: "invalid_json_schema",
  };
}

function strictProblem(schema: Record<string, unknown>, at: string): string | undefined {
  if (schema.type === "object") {
    const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    if (schema.additionalProperties !== false) {
      return `${at || "root"}), 'additionalProperties' is required to be supplied and to be false`;
    }
    const required = Array.isArray(schema.required) ? schema.required : [];
    for (const name of Object.keys(properties)) {
      if (!required.includes(name)) {
        return `${
          at || "root"
        }), 'required' is required to be supplied and to be an array including every key in properties. Missing '${name}'`;
      }
      const inner = strictProblem(properties[name]!, `${at}properties.${name}.`);
      if (inner !== undefined) return inner;
    }
  }
  if (schema.type === "array" && typeof schema.items === "object" && schema.items !== null) {
    return strictProblem(schema.items as Record<string, unknown>, `${at}items.`);
  }
  return undefined;
}
