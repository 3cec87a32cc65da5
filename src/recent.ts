/**
 * Collections that keep only their newest entries: what a long-lived process remembers per call or per
 * CallSid (cut answers, transcript lines, decisions, statuses, the calls admission and the
 * never-connected watch know are over) without growing for as long as it runs.
 *
 * Each is a `Map` or `Set` (reads cost what theirs do) whose `set` or `add` makes the entry the newest
 * and forgets the oldest beyond the limit.
 *
 * @module
 */

/**
 * A `Map` of at most `limit` entries, ordered by when each was last set: setting a key makes it the
 * newest; beyond the limit the oldest goes.
 *
 * @example
 * ```ts
 * const heard = new RecentMap<string, number>(2);
 * heard.set("a", 1).set("b", 2).set("a", 3).set("c", 4); // "b" forgotten: a=3, c=4
 * ```
 */
export class RecentMap<K, V> extends Map<K, V> {
  /** The most entries kept. */
  readonly limit: number;

  /** An empty map keeping at most `limit` (≥ 1) entries. */
  constructor(limit: number) {
    super();
    if (!(limit >= 1)) throw new RangeError(`RecentMap limit ${limit} is not at least 1`);
    this.limit = limit;
  }

  /** Sets `key` as the newest entry; forgets the oldest beyond the limit. */
  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > this.limit) super.delete(super.keys().next().value!);
    return this;
  }
}

/**
 * A `Set` of at most `limit` values, ordered by when each was last added: adding a value makes it the
 * newest; beyond the limit the oldest goes.
 *
 * @example
 * ```ts
 * const cut = new RecentSet<string>(2);
 * cut.add("resp_1").add("resp_2").add("resp_3"); // "resp_1" forgotten
 * ```
 */
export class RecentSet<T> extends Set<T> {
  /** The most values kept. */
  readonly limit: number;

  /** An empty set keeping at most `limit` (≥ 1) values. */
  constructor(limit: number) {
    super();
    if (!(limit >= 1)) throw new RangeError(`RecentSet limit ${limit} is not at least 1`);
    this.limit = limit;
  }

  /** Adds `value` as the newest; forgets the oldest beyond the limit. */
  override add(value: T): this {
    super.delete(value);
    super.add(value);
    if (this.size > this.limit) super.delete(super.values().next().value!);
    return this;
  }
}
