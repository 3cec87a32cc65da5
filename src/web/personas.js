/** `/personas`: every loaded script with its description, engine and voice. */
import { $, api, h, markNav } from "./app.js";

markNav();
const { personas } = await api("/api/personas");
$("personas").replaceChildren(...personas.map((/** @type {any} */ p) =>
  h(
    "li",
    {},
    h("a", { href: `/personas/${encodeURIComponent(p.id)}` }, p.id),
    ` — ${p.description || "no description"} (engine ${p.engine}, voice ${p.voice})`,
    p.valid ? null : h("span", { class: "error" }, ` ⚠ ${p.problems.join("; ")}`),
  )
));
if (personas.length === 0) {
  $("personas").replaceWith(
    h(
      "div",
      { class: "card empty", id: "personas-empty" },
      h("p", {}, h("strong", {}, "No personas are loaded.")),
      h(
        "p",
        {},
        "Add a .ts file to the personas folder (PERSONAS_DIR): the README’s Personas section shows one.",
      ),
    ),
  );
}
document.body.dataset.ready = "true";
