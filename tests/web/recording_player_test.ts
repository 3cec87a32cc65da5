/**
 * The recording player's placing of transcript lines (`src/web/recording_player.js`): a line seeks to
 * when it began to be heard, or to when its text came for a record written before that was kept.
 */

import assert from "node:assert/strict";
import { placeLines } from "../../src/web/recording_player.js";

Deno.test("a transcript line is placed where it began to be heard, else where its text came", () => {
  const items: { dataset: Record<string, string> }[] = [{ dataset: {} }, { dataset: {} }, { dataset: {} }];
  placeLines(items as unknown as Parameters<typeof placeLines>[0], [
    { at: 5_000, spokenAt: 3_000 }, // said from 2 s into the call; its text came at 4 s
    { at: 7_000, spokenAt: null }, // not known: its text's time
    { at: 7_500 }, // a record from before spokenAt was kept
  ], 1_000);
  assert.deepEqual(items.map((item) => item.dataset.offset), ["2", "6", "6.5"]);
});
