/** `/personas`: every loaded script with its description, engine and voice. */
import { $, api, h, markNav } from "./app.js";

markNav();
const { personas } = /** @type {import("../api/types.ts").PersonaList} */ (await api("/api/personas"));
$("personas").replaceChildren(...personas.map((p) =>
  h(
    "li",
    {},
    h("a", { href: `/personas/${encodeURIComponent(p.id)}` }, p.id),
    ` — ${p.description || "no description"} (engine ${p.engine}, voice ${p.voice})`,
    p.valid ? null : h("span", { class: "error" }, ` ⚠ ${p.problems.join("; ")}`),
  )
));
document.body.dataset.ready = "true";
