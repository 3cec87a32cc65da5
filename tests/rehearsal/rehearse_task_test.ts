/**
 * `deno task rehearse` as a user runs it (the task's own flags, an env file the test writes): it
 * starts Parley itself, calls it through the virtual phone, and exits 1 when a scenario is below its
 * pass rate, 2 for a broken scenario file (named with the field) or a PERSONAS_DIR or DATA_DIR it cannot
 * use (named).
 */

import assert from "node:assert/strict";
import { FakeResponsesServer } from "../../testing/fake_responses.ts";
import { greetThenHangUp } from "../../testing/rehearsal_script.ts";
import { FakeRealtimeServer } from "../../testing/fake_realtime.ts";
import {
  startTestParley,
  TEST_AUTH_TOKEN,
  TEST_OPENAI_KEY,
  TEST_PUBLIC_BASE_URL,
} from "../../testing/parley_harness.ts";
import { openCallStore } from "../../src/store/sqlite/call_store.ts";
import { readWav } from "../../src/recordings/wav.ts";
import { openAnalysisStore } from "../../src/store/sqlite/analyses.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const KEY = "sk-test-rehearse-0123456789";

/** `deno run <the rehearse task's flags, .env replaced> src/rehearse_cli.ts …args`. */
async function rehearseCommand(envFile: string, args: string[]): Promise<Deno.Command> {
  const task: string = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`)).tasks.rehearse;
  const words = task.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  assert.ok(!/(^|\s)(-A|--allow-all|--allow-run|--allow-ffi)(\s|=|$)/.test(task), "least privilege");
  const flags = words.slice(2, words.indexOf("src/rehearse_cli.ts"))
    .map((flag) => flag === "--env-file=.env" ? `--env-file=${envFile}` : flag);
  return new Deno.Command(Deno.execPath(), {
    args: [...flags, "src/rehearse_cli.ts", ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", NO_COLOR: "1" },
  });
}

/**
 * Waits for `step` (the fake upstream playing the calls), and fails at once, with what the task
 * printed, if `deno task rehearse` exits before it: a task that cannot start never hangs the test.
 */
async function whileTaskRuns(child: Deno.ChildProcess, step: Promise<void>): Promise<void> {
  const exited = child.status.then(() => true);
  if (await Promise.race([step.then(() => false), exited])) {
    step.catch(() => {}); // its fake upstream closes with the test: that is not the failure
    const { code, stdout, stderr } = await child.output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    throw new Error(
      `deno task rehearse exited (${code}) before its calls:\n${text(stdout)}\n${text(stderr)}`,
    );
  }
}

async function withTask(
  fn: (
    t: { dir: string; envFile: string; realtime: FakeRealtimeServer; judged: { count: number } },
  ) => Promise<void>,
  personas = { dir: `${REPO}tests/testdata/personas`, default: "tester" },
) {
  const dir = await Deno.makeTempDir({ prefix: "parley_rehearse_task_" });
  const realtime = FakeRealtimeServer.start();
  const judged = { count: 0 };
  // The first run's criterion holds, the second's does not.
  const responses = FakeResponsesServer.start(KEY, () => {
    judged.count++;
    const pass = judged.count === 1;
    return { verdicts: [{ criterion: 1, pass, reason: pass ? "it said hello" : "it never said hello" }] };
  });
  const envFile = `${dir}/.env`;
  await Deno.mkdir(`${dir}/scenarios`);
  await Deno.writeTextFile(
    envFile,
    [
      `OPENAI_API_KEY=${KEY}`,
      `OPENAI_REALTIME_URL=${realtime.url}`,
      `OPENAI_BASE_URL=${responses.baseUrl}`,
      `PERSONAS_DIR=${personas.dir}`,
      `DEFAULT_PERSONA=${personas.default}`,
      `INBOUND_PERSONA=${personas.default}`,
      `DATA_DIR=${dir}/data`,
      "INSTANCE_ID=box-1",
    ].join("\n"),
  );
  try {
    await fn({ dir, envFile, realtime, judged });
  } finally {
    await responses.close();
    await realtime.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno task rehearse exits 1 when a scenario is below its pass rate, naming the failed check and its call", async () => {
  await withTask(async ({ dir, envFile, realtime, judged }) => {
    await Deno.writeTextFile(
      `${dir}/scenarios/greeting.ts`,
      `export default {
        persona: "tester",
        caller: { instructions: "You are Sam. Say hi, then hang up." },
        expect: [
          { name: "caller hangs up", endReason: "caller_hung_up" },
          { name: "greets", judge: "the agent said hello" },
        ],
        runs: 2,
        maxMinutes: 1,
      };`,
    );
    // The server on this DATA_DIR (INSTANCE_ID=box-1) is analysing a call of its own right now.
    await Deno.mkdir(`${dir}/data`);
    const serverJobs = openAnalysisStore(`${dir}/data/parley.db`);
    const SERVER_CALL = `CA${"5".repeat(32)}`;
    await serverJobs.enqueue(SERVER_CALL, {
      persona: "tester",
      model: "gpt-5-mini",
      schema: {},
      instructions: null,
    }, 0);
    assert.equal((await serverJobs.claim("box-1", Date.now(), 1, 600_000)).length, 1);
    serverJobs.close();

    const child = (await rehearseCommand(envFile, [`--dir=${dir}/scenarios`, "--concurrency=1"])).spawn();
    for (let run = 0; run < 2; run++) {
      await whileTaskRuns(child, greetThenHangUp(realtime, realtime.sessions.length));
    }
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 1, `${out}\n${new TextDecoder().decode(stderr)}`);
    // The rehearsal's analysis worker has a name of its own: the server's analysis in flight was not
    // put back and run a second time (billed twice).
    const jobs = openAnalysisStore(`${dir}/data/parley.db`);
    try {
      const job = await jobs.get(SERVER_CALL);
      assert.deepEqual([job?.state, job?.attempts], ["running", 1]);
    } finally {
      jobs.close();
    }
    assert.equal(judged.count, 2);
    assert.match(out, /✘ greeting \(tester\): 1\/2 passed \(needs 2\/2\)/);
    assert.match(out, /run 2: http:\/\/localhost:4000\/calls\/CA[0-9a-f]{32}/);
    assert.match(out, /✘ greets: it never said hello/);
    assert.match(out, /rehearsal cost \$\d+\.\d{4}/);
    // The calls are in DATA_DIR under the run's instance name, which a server's startup clean-up
    // (INSTANCE_ID=box-1) leaves alone.
    const store = openCallStore(`${dir}/data/parley.db`);
    try {
      const calls = await store.listCalls();
      const instance = calls[0]?.instance ?? "";
      assert.match(instance, /^box-1\.rehearse-[0-9a-f]{8}$/);
      assert.deepEqual(calls.map((c) => [c.source, c.instance, c.endReason]), [
        ["rehearsal", instance, "caller_hung_up"],
        ["rehearsal", instance, "caller_hung_up"],
      ]);
    } finally {
      store.close();
    }
  });
});

Deno.test("deno task rehearse records the calls of a persona with record: true, in RECORDINGS_DIR", async () => {
  await withTask(async ({ dir, envFile, realtime }) => {
    await Deno.writeTextFile(
      `${dir}/scenarios/recorded.ts`,
      `export default {
        persona: "recorder",
        caller: { instructions: "You are Sam. Say hi, then hang up." },
        expect: [{ name: "caller hangs up", endReason: "caller_hung_up" }],
        runs: 1,
        maxMinutes: 1,
      };`,
    );
    const child = (await rehearseCommand(envFile, [`--dir=${dir}/scenarios`])).spawn();
    await whileTaskRuns(child, greetThenHangUp(realtime));
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${out}\n${new TextDecoder().decode(stderr)}`);
    const callSid = out.match(/recorded run 1 \((CA[0-9a-f]{32})\)/)?.[1];
    assert.ok(callSid !== undefined, out);
    // The server's own layout: DATA_DIR/recordings, the WAV and its state, finished.
    const info = JSON.parse(await Deno.readTextFile(`${dir}/data/recordings/${callSid}.json`));
    assert.equal(info.state, "complete");
    const wav = readWav(await Deno.readFile(`${dir}/data/recordings/${callSid}.wav`));
    assert.equal(wav.channels.length, 2);
    assert.ok(wav.channels[1]!.some((sample) => sample !== 0), "the agent's hello was heard and recorded");
  }, { dir: `${REPO}tests/testdata/recording_personas`, default: "recorder" });
});

Deno.test("deno task rehearse exits 2 for a broken scenario file, naming the file and the field", async () => {
  await withTask(async ({ dir, envFile }) => {
    await Deno.writeTextFile(
      `${dir}/scenarios/broken.ts`,
      `export default { persona: "tester", caller: { instructions: "x" }, expect: [{ name: "n", maxTurns: "three" }] };`,
    );
    const { code, stderr } = await (await rehearseCommand(envFile, [`--dir=${dir}/scenarios`])).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 2, err);
    assert.match(
      err,
      new RegExp(`${dir}/scenarios/broken\\.ts: expect\\[0\\]\\.maxTurns: "three" is not a number`),
    );
  });
});

Deno.test("deno task rehearse exits 2 naming a PERSONAS_DIR or DATA_DIR it cannot use, with no stack trace", async () => {
  await withTask(async ({ dir, envFile }) => {
    await Deno.writeTextFile(
      `${dir}/scenarios/hello.ts`,
      `export default { persona: "tester", caller: { instructions: "x" }, expect: [{ name: "n", maxTurns: 3 }] };`,
    );
    const env = await Deno.readTextFile(envFile);
    const attempt = async (name: string, value: string) => {
      await Deno.writeTextFile(envFile, env.replace(new RegExp(`^${name}=.*$`, "m"), `${name}=${value}`));
      const { code, stderr } = await (await rehearseCommand(envFile, [`--dir=${dir}/scenarios`])).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 2, err);
      assert.doesNotMatch(err, /Uncaught|\n\s+at /, "a message, not a stack trace");
      return err;
    };
    assert.match(await attempt("PERSONAS_DIR", `${dir}/no-such-folder`), /no-such-folder: folder: not found/);
    if (Deno.build.os === "linux") {
      // Deno lets only --allow-all open a path under /proc, whatever the task's --allow-write says.
      assert.match(
        await attempt("DATA_DIR", "/proc/self/parley-data"),
        /DATA_DIR: cannot open the call database "\/proc\/self\/parley-data\/parley\.db": .*set DATA_DIR/,
      );
    }
  });
});

Deno.test("deno task rehearse --url rehearses a running Parley, signing with its token and reading records with API_TOKEN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley_rehearse_url_" });
  const store = openCallStore(`${dir}/parley.db`);
  const apiToken = "test-api-token-0123456789";
  const parley = await startTestParley({ store, env: { API_TOKEN: apiToken } });
  const responses = FakeResponsesServer.start(TEST_OPENAI_KEY, () => ({
    verdicts: [{ criterion: 1, pass: true, reason: "it said hello" }],
  }));
  try {
    await Deno.mkdir(`${dir}/scenarios`);
    await Deno.writeTextFile(
      `${dir}/scenarios/hello.ts`,
      `export default {
        persona: "tester",
        caller: { instructions: "Say hi, then hang up." },
        expect: [{ name: "greets", judge: "the agent said hello" }],
        runs: 1,
      };`,
    );
    const envFile = `${dir}/.env`;
    await Deno.writeTextFile(
      envFile,
      [
        `OPENAI_API_KEY=${TEST_OPENAI_KEY}`,
        `OPENAI_REALTIME_URL=${parley.upstream.url}`,
        `OPENAI_BASE_URL=${responses.baseUrl}`,
        `PUBLIC_BASE_URL=${TEST_PUBLIC_BASE_URL}`,
        `TWILIO_AUTH_TOKEN=${TEST_AUTH_TOKEN}`,
        `API_TOKEN=${apiToken}`,
      ].join("\n"),
    );
    const child = (await rehearseCommand(envFile, [`--dir=${dir}/scenarios`, `--url=${parley.origin}`]))
      .spawn();
    await whileTaskRuns(child, greetThenHangUp(parley.upstream));
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, `${out}\n${new TextDecoder().decode(stderr)}`);
    assert.match(out, new RegExp(`✔ hello \\(tester\\): 1/1 passed`));
    const calls = await store.listCalls();
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.source, "rehearsal");
  } finally {
    await responses.close();
    await parley.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
