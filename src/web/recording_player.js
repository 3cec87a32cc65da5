/**
 * The call page's recording: a player for `GET /api/calls/:callSid/recording` (served with byte
 * ranges, so the browser seeks), transcript lines that seek it when clicked, and the line being played
 * highlighted (`.playing`). Audio time 0 is the stream's start, the record's `startedAt`.
 */

/**
 * Shows `recording` (the call record's) in `section`'s `<audio>`, once it is complete or repaired; the
 * lines of `list` with a `data-offset` (seconds into the call) seek it.
 * @param {import("../api/types.ts").RecordingSummary | null | undefined} recording
 * @param {{ section: HTMLElement, player: HTMLAudioElement, state: HTMLElement, list: HTMLElement }} parts
 * @returns {boolean} whether it is shown
 */
export function showRecording(recording, { section, player, state, list }) {
  if (recording === null || recording === undefined || recording.state === "recording") return false;
  if (player.getAttribute("src") === recording.url) return true;
  state.textContent = recording.state === "repaired"
    ? "Repaired after a server crash: it ends where the server stopped."
    : "Left: the caller. Right: the agent, as the caller heard it. Click a line to hear it.";
  player.src = recording.url;
  section.hidden = false;
  list.classList.add("seekable");
  list.addEventListener("click", (event) => {
    const line = /** @type {HTMLElement | null} */ (
      /** @type {HTMLElement} */ (event.target).closest("li[data-offset]")
    );
    if (line === null) return;
    player.currentTime = Number(line.dataset.offset);
    player.play().catch(() => {/* autoplay refused: the position is set all the same */});
  });
  const highlight = () => highlightAt(list, player.currentTime);
  player.addEventListener("timeupdate", highlight);
  player.addEventListener("seeked", highlight);
  return true;
}

/**
 * Marks the line being played at `seconds`: the last line that starts at or before it.
 * @param {HTMLElement} list @param {number} seconds
 */
export function highlightAt(list, seconds) {
  /** @type {HTMLElement | undefined} */
  let current;
  for (const line of /** @type {NodeListOf<HTMLElement>} */ (list.querySelectorAll("li[data-offset]"))) {
    if (Number(line.dataset.offset) <= seconds + 0.05) current = line;
  }
  for (const line of list.querySelectorAll("li.playing")) {
    if (line !== current) line.classList.remove("playing");
  }
  current?.classList.add("playing");
}

/**
 * Gives each transcript item its place in the recording: seconds from `startedAt` (epoch ms) to when
 * the line began to be heard (`spokenAt`), or to when its text came (`at`) when that is not known.
 * @param {HTMLElement[]} items
 * @param {{ at: number, spokenAt?: number | null }[]} lines
 * @param {number | null} startedAt
 */
export function placeLines(items, lines, startedAt) {
  if (startedAt === null) return;
  items.forEach((item, i) => {
    const line = lines[i];
    if (line === undefined) return;
    const from = line.spokenAt ?? line.at;
    item.dataset.offset = String(Math.max(0, (from - startedAt) / 1000));
  });
}
