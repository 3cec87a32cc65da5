/**
 * The rig of a rehearsal test: a temporary data folder with a call store, a real Parley (the in-process
 * harness), a fake Responses API as the judge, and the {@linkcode RehearsalSetup} that runs scenarios
 * against that Parley over HTTP and the media socket, as `deno task rehearse` does. Everything is
 * closed and removed when the test's body ends, however it ends.
 *
 * @module
 */

import { DEFAULT_PRICES } from "../src/engines/prices.ts";
import type { RehearsalSetup } from "../src/rehearsal/runner.ts";
import { rehearsalSetup } from "../src/rehearsal/setup.ts";
import { openAnalysisStore } from "../src/store/sqlite/analyses.ts";
import { type CallStore, openCallStore } from "../src/store/sqlite/call_store.ts";
import { FakeResponsesServer, type JudgementScript } from "./fake_responses.ts";
import {
  startTestParley,
  TEST_AUTH_TOKEN,
  TEST_OPENAI_KEY,
  TEST_PUBLIC_BASE_URL,
  type TestParley,
} from "./parley_harness.ts";

/** The API token the rig's Parley is started with (the virtual phone reads records with it). */
export const REHEARSAL_API_TOKEN = "test-api-token-0123456789";

/** What {@linkcode withRehearsal} sets up. */
export interface RehearsalRigOptions {
  /** The temporary folder's prefix. @default "parley_rehearsal_" */
  prefix?: string;
  /** Persona files written to `personas/` of the temporary folder (file name → source); else `personasDir`. */
  personas?: Record<string, string>;
  /** The personas folder, when `personas` is not given. @default the harness's (the shipped personas) */
  personasDir?: string;
  /** More environment for Parley (API_TOKEN is set). */
  env?: Record<string, string>;
  /** The judge's answers. @default no verdicts */
  judge?: JudgementScript;
  /** The base URL of the report's links. @default TEST_PUBLIC_BASE_URL */
  linkBaseUrl?: string;
  /**
   * Run post-call analyses (the judge's fake answers them too: tell them apart by
   * `text.format.name`, `call_outcome`). @default false
   */
  analyses?: boolean;
}

/** What a rehearsal test's body gets. */
export interface RehearsalRig {
  /** The temporary folder (removed at the end). */
  dir: string;
  store: CallStore;
  parley: TestParley;
  /** The judge. */
  responses: FakeResponsesServer;
  /** What `runOnce` and `runScenarios` take, aimed at `parley` and judged by `responses`. */
  setup: RehearsalSetup;
}

/**
 * Runs `fn` with a {@linkcode RehearsalRig}, then closes and removes it all.
 *
 * @example
 * ```ts
 * await withRehearsal({ personas: { "keys.ts": "export default { … }" } }, async ({ parley, setup }) => {
 *   const result = await runOnce(loaded, 1, setup);
 * });
 * ```
 */
export async function withRehearsal(
  options: RehearsalRigOptions,
  fn: (rig: RehearsalRig) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: options.prefix ?? "parley_rehearsal_" });
  let personasDir = options.personasDir;
  if (options.personas !== undefined) {
    personasDir = `${dir}/personas`;
    await Deno.mkdir(personasDir);
    for (const [file, source] of Object.entries(options.personas)) {
      await Deno.writeTextFile(`${personasDir}/${file}`, source);
    }
  }
  const store = openCallStore(`${dir}/parley.db`);
  const analyses = options.analyses === true ? openAnalysisStore(`${dir}/parley.db`) : undefined;
  const responses = FakeResponsesServer.start(TEST_OPENAI_KEY, options.judge ?? (() => ({ verdicts: [] })));
  const parley = await startTestParley({
    store,
    ...(analyses === undefined ? {} : { analyses }),
    ...(personasDir === undefined ? {} : { personasDir }),
    // The analyses ask the same fake as the judge.
    env: { API_TOKEN: REHEARSAL_API_TOKEN, OPENAI_BASE_URL: responses.baseUrl, ...options.env },
  });
  try {
    const setup = rehearsalSetup(
      { ...parley.config, openaiBaseUrl: responses.baseUrl, judgeModel: "gpt-5-mini" },
      {
        target: {
          origin: parley.origin,
          publicBaseUrl: TEST_PUBLIC_BASE_URL,
          authToken: TEST_AUTH_TOKEN,
          apiToken: REHEARSAL_API_TOKEN,
        },
        linkBaseUrl: options.linkBaseUrl ?? TEST_PUBLIC_BASE_URL,
        prices: DEFAULT_PRICES,
      },
    );
    await fn({ dir, store, parley, responses, setup });
  } finally {
    await responses.close();
    await parley.close();
    analyses?.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}
