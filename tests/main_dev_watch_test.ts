/**
 * `deno task dev` on the real process, in a copy of the checkout (never the repository itself): a code
 * change restarts the server, a persona edit reloads in place, and moving a persona file another one
 * imports is a failed reload that keeps the server up, not a restart that cannot start again.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeRealtimeServer } from "../testing/fake_realtime.ts";
import { releasePort, unsharedPort } from "../testing/unshared_port.ts";
import { within } from "../testing/within.ts";
import {
  listeningPort,
  placeTwilioCall,
  reap,
  REPO,
  spawnParley,
  TEST_PERSONAS_DIR,
} from "../testing/parley_process.ts";

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
  for (const name of ["tester.ts", "quiet.ts"]) {
    await Deno.copyFile(join(TEST_PERSONAS_DIR, name), join(dir, "personas", name));
  }
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
    INBOUND_PERSONA: "quiet",
  }, { keepWatch: true, args: ["--watch-personas"], cwd: checkout });
  const { stdout, stderr } = parley;
  const banners = () => stdout.lines.filter((line) => /Parley listening on/.test(line)).length;
  try {
    assert.equal(await listeningPort(parley), port);

    // A persona edit reloads in place.
    let from = stdout.lines.length;
    await Deno.writeTextFile(join(checkout, "personas", "quiet.ts"), "// edited\n", { append: true });
    await within(stdout.waitFor(/Personas reloaded: base, derived, quiet, tester/, from), "the reload");

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

    // A call in progress when the code changes.
    const call = await placeTwilioCall(
      { port, authToken: AUTH_TOKEN, publicBaseUrl: "https://parley.test" },
      { persona: "tester" },
    );
    call.start({ persona: "tester" });
    await (await upstream.session(0)).waitFor("response.create");

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
