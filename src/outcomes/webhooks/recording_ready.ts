/**
 * The `recording.ready` webhook: when a call's recording is final (the call ended and its WAV's header
 * was written, or startup repaired what a crash left), its event goes into the durable outbox with a
 * signed link that expires (`src/recordings/recording_link.ts`), so the receiver fetches the WAV without
 * Parley's API token.
 *
 * @module
 */

import { escapeLogText, type Logger } from "../../log.ts";
import type { RecordingLinks } from "../../recordings/recording_link.ts";
import type { RecordingInfo, RecordingsDir } from "../../recordings/recordings_dir.ts";
import type { RecordingSource } from "../../recordings/serve_wav.ts";
import type { Webhooks } from "./webhooks.ts";
import { StoreRetry } from "../../store/store_retry.ts";

/** The `data` of `recording.ready`: the recording's state and length, and where to fetch it until when. */
export interface RecordingReadyData {
  callSid: string;
  /** `complete`, or `repaired` (a crash cut the call; startup fixed the file's header). */
  state: RecordingInfo["state"];
  durationMs: number | null;
  /** The signed link: `PUBLIC_BASE_URL/api/calls/<CallSid>/recording?expires=…&signature=…`. */
  url: string;
  /** When the link stops working, ISO 8601. */
  expiresAt: string;
}

/** Collaborators of {@linkcode RecordingAnnouncer}. */
export interface RecordingAnnouncerOptions {
  webhooks: Pick<Webhooks, "enqueue">;
  links: Pick<RecordingLinks, "sign">;
  /** PUBLIC_BASE_URL: where the receiver reaches Parley. */
  publicBaseUrl: string;
  log: Logger;
}

/** Puts `recording.ready` in the outbox for each recording it hears of. */
export class RecordingAnnouncer {
  readonly #options: RecordingAnnouncerOptions;
  readonly #pending = new Set<Promise<void>>();
  /** An announcement the outbox cannot take now (a locked or full disk, Postgres down) waits here. */
  readonly #retry: StoreRetry;

  /** An announcer sending through `options.webhooks`. */
  constructor(options: RecordingAnnouncerOptions) {
    this.#options = options;
    this.#retry = new StoreRetry({
      log: options.log,
      words: { subject: "Webhooks", verb: "enqueue", done: "enqueued" },
    });
  }

  /**
   * Enqueues `recording.ready` for `info` (once per call: the message id is stable); while the outbox
   * cannot take it, it waits and is retried. Never throws.
   */
  announce(info: RecordingInfo): void {
    const { webhooks, links, publicBaseUrl } = this.#options;
    const enqueue = async () => {
      const link = links.sign(info.callSid);
      const data: RecordingReadyData = {
        callSid: info.callSid,
        state: info.state,
        durationMs: info.durationMs,
        url: `${publicBaseUrl.replace(/\/+$/, "")}${link.path}`,
        expiresAt: new Date(link.expiresAt).toISOString(),
      };
      await webhooks.enqueue("recording.ready", info.callSid, { ...data });
    };
    const work = this.#retry.submit({
      what: `recording.ready of ${escapeLogText(info.callSid)}`,
      run: enqueue,
    })
      .finally(() => this.#pending.delete(work));
    this.#pending.add(work);
  }

  /** Resolves once every announcement so far is in the outbox, or waits for it (logged). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  /** Stops retrying what waits (it is logged by name). */
  async close(): Promise<void> {
    await this.settle();
    await this.#retry.close();
  }
}

/** The `recording.ready` announcements of a running server. */
export interface RecordingAnnouncements {
  /** Announces recordings startup repaired (read from the source); resolves once in the outbox. */
  announceRepaired(callSids: readonly string[]): Promise<void>;
  /** Stops hearing finished recordings and waits for the announcements under way. */
  close(): Promise<void>;
}

/**
 * Announces each recording `recordings` finishes, and those `announceRepaired` is given; nothing when
 * webhooks are off or nothing is recorded.
 *
 * @example
 * ```ts
 * const ready = announceRecordings({ recordings, source, webhooks, links, publicBaseUrl, log });
 * await ready.announceRepaired(await recordings.repair());
 * ```
 */
export function announceRecordings(
  options: Omit<RecordingAnnouncerOptions, "webhooks"> & {
    webhooks: (Pick<Webhooks, "enqueue" | "enabled">) | undefined;
    recordings: Pick<RecordingsDir, "subscribe"> | undefined;
    source: Pick<RecordingSource, "info"> | undefined;
  },
): RecordingAnnouncements {
  const { recordings, source, webhooks } = options;
  if (recordings === undefined || source === undefined || webhooks?.enabled !== true) {
    return { announceRepaired: () => Promise.resolve(), close: () => Promise.resolve() };
  }
  const announcer = new RecordingAnnouncer({ ...options, webhooks });
  const off = recordings.subscribe((info) => announcer.announce(info));
  return {
    async announceRepaired(callSids) {
      for (const callSid of callSids) {
        const info = await source.info(callSid);
        if (info !== undefined && info.state !== "recording") announcer.announce(info);
      }
      await announcer.settle();
    },
    async close() {
      off();
      await announcer.close();
    },
  };
}
