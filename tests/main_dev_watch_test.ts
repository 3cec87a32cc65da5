/**
 * `deno task dev` on the real process, in a copy of the checkout (never the repository itself): a code
 * change restarts the server, a persona edit reloads in place, and moving a persona file another one
 * imports is a failed reload that keeps the server up, not a restart that cannot start again. With
 * INBOUND_PERSONA unset, removing receptionist.ts hands inbound calls to DEFAULT_PERSONA, as a start
 * without it would; a failed reload's problems are escaped, each on its own line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeRealtimeServer } from "../testing/fake_realtime.ts";
import { releasePort, unsharedPort } from "../testing/unshared_port.ts";
import { within } from "../testing/within.ts";
import {
  listeningPort,
  type ParleyProcess,
  placeTwilioCall,
  postVoiceWebhook,
  reap,
  REPO,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../testing/parley_process.ts";
import { connectStream, newCallSid } from "../testing/twilio_webhook.ts";

const AUTH_TOKEN = "dev-watch-auth-token-0123456789";
const API_TOKEN = "dev-watch-api-token-0123456789";

/** A copy of what `deno task dev` runs: deno.json, the lock file, main.ts, src/ and a personas folder. */
async function copyCheckout(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "parley-checkout-" });
  for (const name of ["deno.json", "deno.lock", "main.ts", "src"]) {
    const { code } = await new Deno.Command("cp", { args: ["-r", join(REPO, name), dir] }).output();
    assert.equal(code, 0, `copy ${name}`);
  }
  await Deno.mkdir(join(dir, "personas"));
  await Deno.copyFile(join(TEST_PERSONAS_DIR, "tester.ts"), join(dir, "personas", "tester.ts"));
  // INBOUND_PERSONA's default: the test leaves INBOUND_PERSONA unset.
  await Deno.copyFile(join(TEST_PERSONAS_DIR, "quiet.ts"), join(dir, "personas", "receptionist.ts"));
  // A persona that another one imports, as alex_live.ts imports alex.ts.
  await Deno.writeTextFile(
    join(dir, "personas", "base.ts"),
    'export default { instructions: "You help briefly.", voice: "marin" };\n',
  );
  await Deno.writeTextFile(
    join(dir, "personas", "derived.ts"),
    'import base from "./base.ts";\n\nexport default { ...base, voice: "cedar" };\n',
  );
  return dir;
}

Deno.test("deno task dev: a code change restarts the server, persona edits and moves reload in place", async () => {
  const checkout = await copyCheckout();
  const upstream = FakeRealtimeServer.start();
  // Both runs of the server listen on it; no other test's server can be given it in between.
  const port = unsharedPort();
  const parley = await spawnParley("dev", {
    PORT: String(port),
    PUBLIC_BASE_URL: "https://parley.test",
    OPENAI_API_KEY: "sk-dev-watch-key-0123456789",
    OPENAI_REALTIME_URL: upstream.url,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    API_TOKEN,
    DATA_DIR: join(checkout, "data"),
    DEFAULT_PERSONA: "tester",
  }, { keepWatch: true, args: ["--watch-personas"], cwd: checkout });
  const { stdout, stderr } = parley;
  const banners = () => stdout.lines.filter((line) => /Parley listening on/.test(line)).length;
  try {
    assert.equal(await listeningPort(parley), port);

    // A persona edit reloads in place.
    let from = stdout.lines.length;
    await Deno.writeTextFile(join(checkout, "personas", "receptionist.ts"), "// edited\n", { append: true });
    await within(
      stdout.waitFor(/Personas reloaded: base, derived, receptionist, tester/, from),
      "the reload",
    );

    // Moving a persona that another imports: the reload fails and keeps what was loaded; no restart.
    // Deno's watcher takes up the modules a reload imported a moment later, and nothing tells when; it
    // restarted about a second after such a move, and not at all if the file was back by then.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const errorsFrom = stderr.lines.length;
    from = stdout.lines.length;
    await Deno.rename(join(checkout, "personas", "base.ts"), join(checkout, "personas", "moved.ts"));
    await within(stderr.waitFor(/derived\.ts: import failed/, errorsFrom), "the failed reload");
    await within(stderr.waitFor(/keeping the personas loaded before/, errorsFrom), "the old personas kept");
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const restarted = await Promise.race([
      stdout.waitFor(/Shutting down/, from).then(() => true),
      new Promise<false>((resolve) => quiet = setTimeout(() => resolve(false), 2_500)),
    ]);
    clearTimeout(quiet);
    assert.equal(restarted, false, "moving a persona file restarted the server");
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    from = stdout.lines.length;
    await Deno.rename(join(checkout, "personas", "moved.ts"), join(checkout, "personas", "base.ts"));
    await within(stdout.waitFor(/Personas reloaded/, from), "the reload after the move back");

    await refusedReloadIsEscaped(checkout, parley);
    await inboundFollowsTheReceptionist(checkout, parley, { port, upstream });

    // A call in progress when the code changes (the inbound calls above had sessions of their own).
    const callSession = upstream.session();
    const call = await placeTwilioCall(
      { port, authToken: AUTH_TOKEN, publicBaseUrl: "https://parley.test" },
      { persona: "tester" },
    );
    call.start({ persona: "tester" });
    await (await callSession).waitFor("response.create");

    // A code change restarts the server: a new banner, and /healthz answers from the new run.
    from = stdout.lines.length;
    await Deno.writeTextFile(join(checkout, "src", "log.ts"), "// a code change\n", { append: true });
    await within(stdout.waitFor(/Parley listening on/, from), "the restarted server's banner", 15_000);
    const health = await within(fetch(`http://127.0.0.1:${port}/healthz`), "/healthz after the restart");
    assert.deepEqual(await health.json(), { status: "ok", activeCalls: 0 });

    // The restart cut the call; its record says so (not server_crashed, which a crash leaves).
    await within(call.closed, "the cut call's socket to close");
    const record = await (await fetch(`http://127.0.0.1:${port}/api/calls/${call.callSid}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    })).json();
    assert.equal(record.endReason, "server_shutdown");
    assert.match(record.endDetail ?? "", /deno task dev restarted the server/);
    assert.match(stderr.lines.join("\n"), /Restarting \(a code change\): 1 call\(s\) in progress cut/);

    assert.equal(banners(), 2, "one start, one restart: the persona edit and the move restarted nothing");
    const output = [...stdout.lines, ...stderr.lines].join("\n");
    assert.doesNotMatch(output, /cannot start/);
    assert.match(output, /Restarting! File change detected: .*src\/log\.ts/);

    parley.child.kill("SIGTERM");
    const status = await within(parley.child.status, "the end after SIGTERM", 10_000);
    assert.equal(status.signal, "SIGTERM");
    const links = [...Deno.readDirSync(join(checkout, "data", ".persona-links"))];
    assert.deepEqual(links, [], "the reload links are removed on the way out");
  } finally {
    await reap(parley);
    releasePort(port);
    await upstream.close();
    await Deno.remove(checkout, { recursive: true });
  }
});

/**
 * A persona file whose field name holds an escape sequence and a line break: the refused reload's
 * problem is one log line, escaped; no line of its own starts with what followed the line break.
 */
async function refusedReloadIsEscaped(checkout: string, parley: ParleyProcess): Promise<void> {
  const bad = join(checkout, "personas", "bad.ts");
  const errorsFrom = parley.stderr.lines.length;
  await Deno.writeTextFile(
    bad,
    'export default { voice: "marin", instructions: "Hi.", ["colour\\u001b[31m\\nforged: ok"]: 1 };\n',
  );
  const line = await within(
    parley.stderr.waitFor(/bad\.ts: colour/, errorsFrom),
    "the refused reload",
  );
  assert.ok(
    line.startsWith("[Realtime]   - personas/bad.ts: colour\\x1b[31m\\x0aforged: ok: unknown field; known"),
    line,
  );
  await within(
    parley.stderr.waitFor(/keeping the personas loaded before/, errorsFrom),
    "the end of the report",
  );
  const report = parley.stderr.lines.slice(errorsFrom);
  assert.deepEqual(report.filter((l) => l.includes("\u001b") || l.startsWith("[Realtime] forged")), []);
  const from = parley.stdout.lines.length;
  await Deno.remove(bad);
  await within(
    parley.stdout.waitFor(/Personas reloaded: base, derived, receptionist, tester/, from),
    "the fix",
  );
}

/**
 * INBOUND_PERSONA unset: a reload without receptionist.ts is accepted and inbound calls go to
 * DEFAULT_PERSONA (tester), with a log line, as a start without it would; with the file back, to it again.
 */
async function inboundFollowsTheReceptionist(
  checkout: string,
  parley: ParleyProcess,
  to: { port: number; upstream: FakeRealtimeServer },
): Promise<void> {
  const file = join(checkout, "personas", "receptionist.ts");
  const text = await Deno.readTextFile(file);
  let from = parley.stdout.lines.length;
  const errorsFrom = parley.stderr.lines.length;
  await Deno.remove(file);
  await within(
    parley.stdout.waitFor(/Personas reloaded: base, derived, tester$/, from),
    "the reload without it",
  );
  const fallback = await within(parley.stdout.waitFor(/Inbound calls: /, from), "the fallback line");
  assert.equal(
    fallback,
    "[Realtime] Inbound calls: tester (DEFAULT_PERSONA: INBOUND_PERSONA is not set and there is no " +
      "receptionist persona any more)",
  );
  const refused = parley.stderr.lines.slice(errorsFrom).filter((l) => /Cannot load|refused/.test(l));
  assert.deepEqual(refused, [], "the reload was accepted");
  assert.match(await inboundInstructions(to), /^You are testing\./);

  from = parley.stdout.lines.length;
  await Deno.writeTextFile(file, text);
  await within(
    parley.stdout.waitFor(
      /Inbound calls: receptionist \(INBOUND_PERSONA is not set, and its default receptionist\.ts is there now\)$/,
      from,
    ),
    "the receptionist back",
  );
  assert.equal(await inboundInstructions(to), "You answer questions briefly.");
}

/** An inbound call (its webhook URL names no persona), connected and hung up: the instructions its session got. */
async function inboundInstructions(to: { port: number; upstream: FakeRealtimeServer }): Promise<string> {
  const target = { port: to.port, authToken: AUTH_TOKEN, publicBaseUrl: "https://parley.test" };
  const sessions = to.upstream.sessions.length;
  const callSid = newCallSid();
  const { twiml, streamUrl } = await postVoiceWebhook(target, callSid);
  const persona = /<Parameter name="persona" value="([^"]+)"/.exec(twiml)?.[1];
  assert.ok(streamUrl !== undefined && persona !== undefined, twiml);
  const call = await connectStream(target, streamUrl, callSid);
  call.start({ persona });
  const update = await within((await to.upstream.session(sessions)).waitFor("session.update"), "the session");
  call.stop();
  await within(call.closed, "the inbound call's end");
  return (update.session as { instructions: string }).instructions;
}
