/**
 * `deno task test`: the whole suite (`deno test --no-check --allow-all --parallel tests/`), its files
 * and tests in an order shuffled by a seed printed first, so a run that failed can be repeated in the
 * same order with `deno task test --shuffle=<seed>`. Deno's own `--shuffle` picks a seed it never
 * prints.
 *
 * Why shuffled: in path order the files that mostly wait on real-time audio (`tests/relay/`) run
 * together, leaving a core idle, and `tests/webhooks/` ends every run waiting on its calls; spread out,
 * the suite takes about 2 s less on a 2-core machine. And a test that only passes in one order, or only
 * when another file is not loading the machine, is found.
 *
 * Arguments go on to `deno test` (`--filter`, a `--shuffle=<seed>` of your own). Ctrl-C (and CI's
 * timeout, which signals the whole process group) reaches `deno test` itself, which lists the tests
 * still pending; this process waits for it and ends with its status.
 *
 * @module
 */

const args = [...Deno.args];
const given = args.find((arg) => arg === "--shuffle" || arg.startsWith("--shuffle="));
let seed = given?.slice("--shuffle=".length);
if (given === undefined) {
  seed = String(1 + Math.floor(Math.random() * 999_999));
  args.push(`--shuffle=${seed}`);
}
if (seed !== undefined && seed !== "") {
  console.log(
    `Test order: --shuffle=${seed} (deno task test --shuffle=${seed} runs them in this order again)`,
  );
}

const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "--no-check", "--allow-all", "--parallel", ...args, "tests/"],
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
// Ctrl-C went to deno test too (the terminal and `timeout` signal the process group): wait for it to
// list what was pending. A SIGTERM meant for this process alone ends it as well.
const onInterrupt = () => {};
const onTerminate = () => child.kill("SIGTERM");
Deno.addSignalListener("SIGINT", onInterrupt);
Deno.addSignalListener("SIGTERM", onTerminate);
const status = await child.status;
Deno.removeSignalListener("SIGINT", onInterrupt);
Deno.removeSignalListener("SIGTERM", onTerminate);
const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
Deno.exit(status.signal === null ? status.code : 128 + (SIGNAL_NUMBERS[status.signal] ?? 1));
