/* Pledge cookie banner (P07, P08). One file, no dependencies, no build step: docs/banner.md.
   <script src="https://PLEDGE/consent/banner.js" defer></script> on the shop's pages. */
(() => {
  const d = document, w = window, me = d.currentScript;
  if (!me || w.pledgeConsent) return;
  const base = new URL(me.src).origin + "/consent/";
  const two = (l) => ((l = (l || "").slice(0, 2).toLowerCase()) === "vi" || l === "en" ? l : "");
  const lang = two(d.documentElement.lang) || two(navigator.language);
  const UUID = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;
  let cfg, asked = [], state = {}, choices = {}, box, opener, beaconSent;

  // Elements are built from text nodes only: no policy text is ever parsed as HTML.
  const el = (tag, attrs, ...kids) => {
    const e = d.createElement(tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    e.append(...kids);
    return e;
  };

  // The only cookie: strictly necessary, first-party, written only once a choice exists.
  const read = () => {
    const m = d.cookie.match(/(?:^|; )pledge_consent=([^;]*)/);
    try { return (m && JSON.parse(decodeURIComponent(m[1]))) || {}; } catch (e) { return {}; }
  };
  const write = () => {
    d.cookie = "pledge_consent=" + encodeURIComponent(JSON.stringify(state)) + ";path=/;max-age=" +
      cfg.cookie_days * 86400 + ";samesite=lax" + (location.protocol === "https:" ? ";secure" : "");
  };
  const uuid = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = [...b].map((x) => (x + 256).toString(16).slice(1)).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  };

  // One request at a time, in order: a page view is counted after the choice is recorded.
  let pending = Promise.resolve();
  const send = (f) => (pending = pending.then(f).catch(() => {}));
  const post = (method, ch) =>
    send(() => fetch(base + "choices", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        visitor: state.v, choices: ch, method, language: cfg.language, policy_hash: cfg.hash,
      }),
    }).then((r) => r.status === 409 && load(true))); // 409: a new policy version: ask again

  // Run the scripts of consented categories: <script type="text/plain" data-category="…">.
  const apply = () => {
    choices.necessary = true;
    d.querySelectorAll('script[type="text/plain"][data-category]').forEach((o) => {
      if (choices[o.dataset.category] !== true) return;
      const n = d.createElement("script");
      for (const a of o.attributes) if (a.name !== "type") n.setAttribute(a.name, a.value);
      if (o.nonce) n.nonce = o.nonce;
      n.async = false; // keep the page's order
      n.text = o.text;
      o.replaceWith(n);
    });
    // P08: the beacon counts this page view, anonymously, only once statistics are accepted.
    if (choices.analytics === true && !beaconSent) {
      beaconSent = 1;
      send(() => fetch(base + "beacon?p=" + encodeURIComponent(location.pathname), {
        method: "POST", mode: "no-cors", credentials: "omit", keepalive: true,
      }));
    }
    w.dispatchEvent(new CustomEvent("pledge:consent", { detail: { choices: { ...choices } } }));
  };

  const close = () => {
    box.remove();
    box = null;
    if (opener && opener.focus && opener !== d.body) opener.focus();
  };

  const choose = (how) => {
    const ch = {};
    for (const k of asked) {
      ch[k] = how === "all" || (how === "save" && box.querySelector(`[data-c="${k}"]`).checked);
    }
    state = { v: state.v, h: cfg.hash, c: ch, x: 1 };
    choices = { ...ch };
    write();
    close();
    post({ all: "banner_accept_all", none: "banner_reject_all" }[how] || "banner_custom", ch);
    apply();
  };

  const show = (prefs, from) => {
    if (!box || !box.contains(d.activeElement)) opener = from || d.activeElement;
    if (box) box.remove();
    const t = cfg.texts;
    const btn = (a, label, more) =>
      el("button", { type: "button", class: "pcb-btn", "data-a": a, ...more }, label);
    const toggle = btn("prefs", t.preferences, { "aria-expanded": "false", "aria-controls": "pcb-p" });
    const cats = cfg.categories.map((c) => {
      const id = "pcb-c-" + c.key;
      const input = el("input", {
        type: "checkbox", role: "switch", id, "data-c": c.key, "aria-describedby": id + "-d",
      });
      input.checked = c.required || choices[c.key] === true; // never pre-ticked: only own choices
      input.disabled = c.required;
      return el("div", { class: "pcb-cat" },
        el("label", { for: id }, input, el("span", {}, c.label + (c.required ? ` (${t.always_on})` : ""))),
        el("p", { id: id + "-d" }, c.description),
        el("ul", {}, ...c.services.map((s) =>
          el("li", {}, el("b", {}, s.name), ` (${t.provider}: ${s.provider}): ${s.description}`))));
    });
    const panel = el("div", { class: "pcb-prefs", id: "pcb-p", role: "group", "aria-labelledby": "pcb-pt" },
      el("h3", { id: "pcb-pt" }, t.preferences_title), ...cats,
      el("div", { class: "pcb-row" }, btn("save", t.save)));
    const expand = (open) => {
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      (open ? panel.querySelector("input:not(:disabled)") || panel.querySelector("button") : toggle).focus();
    };
    box = el("div", {
      class: "pcb", role: "dialog", "aria-labelledby": "pcb-t", "aria-describedby": "pcb-d",
      tabindex: "-1", lang: cfg.language,
    },
      el("h2", { id: "pcb-t" }, t.title),
      el("p", { id: "pcb-d" }, t.intro + " ", el("a", { href: cfg.policy_url }, t.policy_link)),
      state.g ? el("p", { class: "pcb-gpc" }, t.gpc_note) : "",
      el("div", { class: "pcb-row" }, btn("all", t.accept_all), btn("none", t.reject_all), toggle),
      panel);
    box.addEventListener("click", (e) => {
      const a = e.target.closest("button[data-a]");
      if (!a) return;
      if (a.dataset.a === "prefs") expand(panel.hidden);
      else choose(a.dataset.a);
    });
    // Escape closes the preferences layer (it is not a choice); once a choice exists it also
    // closes the banner re-opened from a "cookie settings" link.
    box.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      if (!panel.hidden) expand(false);
      else if (state.x) close();
    });
    d.body.append(box);
    panel.hidden = true;
    if (prefs) expand(true);
    else box.focus();
  };

  const start = (c) => {
    cfg = c;
    asked = cfg.categories.filter((k) => !k.required).map((k) => k.key);
    if (!asked.length) return;
    const old = read();
    // A choice counts for the policy version it was made under: a new version asks again.
    state = old.h === cfg.hash && old.c && typeof old.c === "object"
      ? old : { v: UUID.test(old.v) ? old.v : uuid(), h: cfg.hash, c: {} };
    choices = { ...state.c };
    // GPC: a refusal of advertising while no explicit choice exists (LAW.md, Cookies).
    const gpc = cfg.gpc && (navigator.globalPrivacyControl === true || cfg.gpc_signal);
    if (gpc && !state.x && !state.g && asked.includes("advertising")) {
      state.c.advertising = choices.advertising = false;
      state.g = 1;
      write();
      post("gpc", { advertising: false });
    }
    apply();
    if (!state.x) show(false);
  };

  // The banner shows once its style sheet has loaded (or failed), never unstyled, and once the
  // page is parsed (the snippet may be async): every blocked script is then in the document.
  const css = el("link", { rel: "stylesheet", href: base + "banner.css" });
  const styled = new Promise((r) => { css.onload = css.onerror = r; });
  const parsed = new Promise((r) =>
    d.readyState === "loading" ? d.addEventListener("DOMContentLoaded", r) : r());
  d.head.append(css);
  const load = (fresh) =>
    Promise.all([
      fetch(base + "config.json" + (lang ? "?lang=" + lang : ""), fresh ? { cache: "reload" } : {})
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status))),
      styled,
      parsed,
    ])
      .then((r) => start(r[0]))
      .catch(() => {}); // without a config nothing optional runs: the safe default

  const open = (from) => cfg && asked.length && show(true, from);
  d.addEventListener("click", (e) => {
    const t = e.target.closest && e.target.closest("[data-pledge-cookie-settings]");
    if (t) { e.preventDefault(); open(t); }
  });
  w.pledgeConsent = { get choices() { return { ...choices }; }, open: () => open() };
  load();
})();
