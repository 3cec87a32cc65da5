/**
 * A transcript line as the pages show it (`transcriptItem` in `src/web/transcript.js`), built against
 * a small stand-in for the DOM that records what `h()` creates.
 */
import assert from "node:assert/strict";
import { transcriptItem } from "../../src/web/transcript.js";

/** What the stand-in records of an element. */
interface FakeElement {
  tag: string;
  attributes: Record<string, string>;
  children: (FakeElement | string)[];
}

/** The element's text, as `textContent` reads it. */
function text(node: FakeElement | string): string {
  return typeof node === "string" ? node : node.children.map(text).join("");
}

/** Runs `build` with a `document` whose elements record their tag, attributes and children. */
function withFakeDocument<T>(build: () => T): T {
  const scope = globalThis as Record<string, unknown>;
  scope.document = {
    createElement: (tag: string) => {
      const element: FakeElement & Record<string, unknown> = { tag, attributes: {}, children: [] };
      element.setAttribute = (name: string, value: string) => element.attributes[name] = value;
      element.addEventListener = () => {};
      element.append = (child: FakeElement | string) => element.children.push(child);
      return element;
    },
  };
  try {
    return build();
  } finally {
    delete scope.document;
  }
}

Deno.test("transcript: a line names its speaker, and an agent line the caller cut off says when", () => {
  const cut = withFakeDocument(() =>
    transcriptItem({ speaker: "agent", text: "Hi Dana, this is", interruptedAtMs: 1234.6 })
  ) as unknown as FakeElement;
  assert.equal(cut.tag, "li");
  assert.equal(cut.attributes.class, "agent");
  assert.equal(text(cut), "Agent:Hi Dana, this is [interrupted after 1235 ms]");

  const caller = withFakeDocument(() =>
    transcriptItem({ speaker: "caller", text: "Who is this?", interruptedAtMs: null })
  ) as unknown as FakeElement;
  assert.equal(caller.attributes.class, "caller");
  assert.equal(text(caller), "Caller:Who is this?");
});

Deno.test("transcript: the caller is named as the page asks (the softphone says You)", () => {
  const line = withFakeDocument(() =>
    transcriptItem({ speaker: "caller", text: "Hello?" }, "You")
  ) as unknown as FakeElement;
  assert.equal(text(line), "You:Hello?");
  assert.deepEqual((line.children[0] as FakeElement).attributes, { class: "who" });
});
