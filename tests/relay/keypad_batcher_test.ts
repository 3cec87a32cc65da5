import assert from "node:assert/strict";
import { KeypadBatcher } from "../../src/relay/keypad_batcher.ts";

function batcher(windowMs: number) {
  const batches: { text: string; at: number }[] = [];
  let resolveNext: (() => void) | undefined;
  const keypad = new KeypadBatcher({
    windowMs,
    onBatch: (text) => {
      batches.push({ text, at: performance.now() });
      resolveNext?.();
    },
  });
  const next = () => new Promise<void>((resolve) => resolveNext = resolve);
  return { keypad, batches, next };
}

Deno.test("presses within the window arrive as one text after the caller pauses", async () => {
  const { keypad, batches, next } = batcher(60);
  const batch = next();
  const startedAt = performance.now();
  for (const digit of ["1", "2", "3", "#"]) keypad.press(digit);
  await batch;
  assert.deepEqual(batches.map((b) => b.text), ["The caller pressed 1, 2, 3, #"]);
  assert.ok(batches[0]!.at - startedAt >= 59, "sent before the window closed");
});

Deno.test("a press after the pause starts a new batch", async () => {
  const { keypad, batches, next } = batcher(30);
  let batch = next();
  keypad.press("4");
  await batch;
  batch = next();
  keypad.press("*");
  await batch;
  assert.deepEqual(batches.map((b) => b.text), ["The caller pressed 4", "The caller pressed *"]);
});

Deno.test("flush sends at once, close drops pending presses, and non-keys are refused", () => {
  const { keypad, batches } = batcher(10_000);
  assert.equal(keypad.press("x"), false);
  assert.equal(keypad.press("\n1"), false);
  keypad.press("9");
  keypad.flush();
  assert.deepEqual(batches.map((b) => b.text), ["The caller pressed 9"]);
  keypad.press("5");
  keypad.close();
  keypad.flush();
  assert.equal(batches.length, 1);
});
