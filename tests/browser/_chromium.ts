/**
 * Launches Debian's headless Chromium (never a downloaded browser) through npm:playwright-core,
 * with a new empty profile per launch: Chromium's headless shell (`chromium-headless-shell`, the
 * same Blink without the browser's windowing and UI, what Playwright itself runs headless) when it is
 * installed, else `chromium` in headless mode. The shell ran the browser tests on 13.5 core-seconds
 * against 22.1 for `chromium`, on a 2-core machine whose test suite is bound by its CPU. If the
 * browser cannot start, the error says so plainly: the browser tests fail rather than skip.
 *
 * @module
 */

import { type BrowserContext, chromium } from "playwright-core";

/** Where the Debian packages put Chromium's headless shell and Chromium. */
const HEADLESS_SHELL_PATH = "/usr/bin/chromium-headless-shell";
const CHROMIUM_BROWSER_PATH = "/usr/bin/chromium";

/** The Chromium the tests drive: the headless shell when installed, else the browser. */
export const CHROMIUM_PATH = (() => {
  try {
    Deno.statSync(HEADLESS_SHELL_PATH);
    return HEADLESS_SHELL_PATH;
  } catch {
    return CHROMIUM_BROWSER_PATH;
  }
})();
/** Where tests write screenshots (git-ignored). */
export const SCREENSHOT_DIR = new URL("./screenshots/", import.meta.url).pathname;

const BASE_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A running browser with its own profile; `await using` closes both. */
export interface TestBrowser extends AsyncDisposable {
  context: BrowserContext;
}

/** Starts Chromium with `extraArgs` (e.g. the fake microphone flags). */
export async function launchChromium(extraArgs: string[] = []): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "parley_chromium_" });
  let context: BrowserContext;
  try {
    // playwright-core passes the profile as --user-data-dir itself.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...BASE_ARGS, ...extraArgs],
      viewport: { width: 1100, height: 900 },
    });
  } catch (error) {
    await Deno.remove(profile, { recursive: true });
    throw new Error(
      `Chromium could not start from ${CHROMIUM_PATH}: install Debian's chromium-headless-shell or chromium (apt-get install chromium-headless-shell): ${
        (error as Error).message.split("\n")[0]
      }`,
      { cause: error },
    );
  }
  return {
    context,
    async [Symbol.asyncDispose]() {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    },
  };
}

/** Writes a screenshot of `page` as `name.png` under {@linkcode SCREENSHOT_DIR}. */
export async function screenshot(
  page: { screenshot(options: { path: string; fullPage: boolean }): Promise<unknown> },
  name: string,
): Promise<void> {
  await Deno.mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage: true });
}
