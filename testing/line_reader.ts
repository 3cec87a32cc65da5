/**
 * LineReader: reads a child process's output line by line and waits for a line, for the smoke test
 * and the bench (both run `main.ts` as a subprocess and wait for its banner).
 *
 * @module
 */

/** Collects a stream's lines; resolves the first one matching a pattern. */
export class LineReader {
  /** Every line read so far. */
  readonly lines: string[] = [];
  /** Resolves when the stream has ended. */
  readonly done: Promise<void>;
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  /** Starts reading `stream`. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      let buffer = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          this.lines.push(line);
          this.#waiters = this.#waiters.filter((w) => !(w.pattern.test(line) && (w.resolve(line), true)));
        }
      }
    })();
  }

  /**
   * Resolves with the first line matching `pattern`, already read or future, from line `from` on;
   * rejects after `timeoutMs` (naming the pattern and the last lines read), so a test that waits for a
   * line that never comes fails instead of hanging.
   */
  waitFor(pattern: RegExp, from = 0, timeoutMs = 30_000): Promise<string> {
    const found = this.lines.slice(from).find((line) => pattern.test(line));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `No line matched ${pattern} within ${timeoutMs} ms; the last lines were:\n${
              this.lines.slice(-10).join("\n")
            }`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }
}
