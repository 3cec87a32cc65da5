/**
 * What the browser tests read of a page's live feeds: every `EventSource` the page opens is kept in
 * `globalThis.__feeds` with the `snapshot` events it received, so a test can await the snapshot and
 * then read the feed's `readyState` (2, CLOSED: the browser will never reconnect it), and a hold on
 * a page's first feed request, released once the test has changed what the server will answer.
 *
 * @module
 */

import type { Page, Route } from "playwright-core";

/** One feed the page opened, as the page's globals hold it. */
interface TrackedFeed {
  url: string;
  snapshots: number;
  source: { readyState: number };
}

/** The page's globals the tracker adds. */
interface FeedGlobals {
  __feeds: TrackedFeed[];
  EventSource: new (url: string, init?: unknown) => {
    readyState: number;
    addEventListener(type: string, listener: () => void): void;
  };
}

/** Makes `page` keep each EventSource it opens (from its next navigation on). */
export async function trackFeeds(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const g = globalThis as unknown as FeedGlobals;
    const Native = g.EventSource;
    g.__feeds = [];
    g.EventSource = class extends Native {
      constructor(url: string, init?: unknown) {
        super(url, init);
        const feed: TrackedFeed = { url: String(url), snapshots: 0, source: this };
        g.__feeds.push(feed);
        // Added before the page's own listeners: counted before the page acts on the snapshot.
        this.addEventListener("snapshot", () => feed.snapshots++);
      }
    };
  });
}

/** Resolves once the page's feed number `index` has received a `snapshot`. */
export async function snapshotReceived(page: Page, index = 0): Promise<void> {
  await page.waitForFunction(
    (i) => ((globalThis as unknown as FeedGlobals).__feeds[i]?.snapshots ?? 0) > 0,
    index,
  );
}

/** Each feed the page opened: its `readyState` (0 connecting, 1 open, 2 closed) and snapshots. */
export async function feedStates(page: Page): Promise<{ readyState: number; snapshots: number }[]> {
  return await page.evaluate(() =>
    (globalThis as unknown as FeedGlobals).__feeds.map((f) => ({
      readyState: f.source.readyState,
      snapshots: f.snapshots,
    }))
  );
}

/** Requests to the live feed (`…/events`) the page sent, counted as they go. */
export interface FeedRequests {
  /** How many the page has sent so far. */
  readonly count: number;
  /** Resolves with the first one, held: nothing reaches the server until `continue()`. */
  readonly first: Promise<Route>;
}

/** Holds the page's first request to a live feed; later ones go through untouched. */
export async function holdFirstFeedRequest(page: Page): Promise<FeedRequests> {
  let count = 0;
  const first = Promise.withResolvers<Route>();
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.endsWith("/events")) count++;
  });
  let held = false;
  await page.route(/\/api\/calls\/[^/]+\/events$/, async (route) => {
    if (held) return await route.continue();
    held = true;
    first.resolve(route);
  });
  return {
    get count() {
      return count;
    },
    first: first.promise,
  };
}
