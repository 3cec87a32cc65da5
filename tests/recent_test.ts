import assert from "node:assert/strict";
import { RecentMap, RecentSet } from "../src/recent.ts";

Deno.test("a RecentMap keeps the keys set most recently, at most its limit", () => {
  const map = new RecentMap<string, number>(3);
  map.set("a", 1).set("b", 2).set("c", 3);
  map.set("a", 10); // "a" is now the newest
  map.set("d", 4); // "b", the oldest, goes
  assert.deepEqual([...map], [["c", 3], ["a", 10], ["d", 4]]);
  assert.equal(map.has("b"), false);
  assert.equal(map.get("a"), 10);
  for (let i = 0; i < 1000; i++) map.set(`k${i}`, i);
  assert.equal(map.size, 3);
  assert.deepEqual([...map.keys()], ["k997", "k998", "k999"]);
});

Deno.test("a RecentSet keeps the values added most recently, at most its limit", () => {
  const set = new RecentSet<string>(2);
  set.add("x").add("y").add("x").add("z"); // "x" was refreshed, so "y" goes
  assert.deepEqual([...set], ["x", "z"]);
  set.delete("x");
  set.add("w");
  assert.deepEqual([...set], ["z", "w"]);
});

Deno.test("a limit under 1 is refused, with the limit named", () => {
  assert.throws(() => new RecentMap(0), /RecentMap limit 0 is not at least 1/);
  assert.throws(() => new RecentSet(Number.NaN), /RecentSet limit NaN is not at least 1/);
});
