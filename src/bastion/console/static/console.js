// Bastion console: keyboard shortcuts, decisions without a page reload, reveal on demand.
// No framework and no build step; every request that changes state carries the CSRF token.
"use strict";
(function () {
  const meta = (name) => { const m = document.querySelector(`meta[name="${name}"]`); return m ? m.content : ""; };
  const csrf = meta("csrf-token");

  function toast(text, bad) {
    const t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.className = bad ? "show bad" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.className = ""; }, 6000);
  }

  async function post(url, body) {
    return fetch(url, {
      method: "POST", body: body || new FormData(), credentials: "same-origin", cache: "no-store",
      headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch", "Accept": "application/json" },
    });
  }

  async function errorOf(resp) {
    try { const j = await resp.json(); return j.error || resp.statusText; } catch (e) { return resp.statusText; }
  }

  // -- reveal: the original comes back from a POST as bytes, shown through a blob: URL ----------------
  async function reveal(button) {
    const fig = button.closest("figure");
    const img = fig && fig.querySelector("img.safe");
    if (!img || button.disabled) return;
    button.disabled = true;
    const resp = await post(button.dataset.reveal);
    if (!resp.ok) {
      button.disabled = false;
      toast(await errorOf(resp), true);
      if (resp.status === 429) location.reload();  // shows the break banner
      return;
    }
    const blob = await resp.blob();
    img.src = URL.createObjectURL(blob);
    img.classList.remove("safe");
    img.classList.add("revealed");
    img.alt = img.alt.replace("Blurred preview", "Revealed original");
    button.textContent = "Revealed";
    const used = resp.headers.get("X-Reveals-Used"), total = resp.headers.get("X-Reveals-Budget");
    const u = document.getElementById("budget-used"), b = document.getElementById("budget-total");
    if (u && used) u.textContent = used;
    if (b && total) b.textContent = total;
    toast(`Revealed (${used}/${total} reveals this shift).`);
  }

  // -- decisions without a page reload ---------------------------------------------------------
  async function decide(form) {
    const out = document.getElementById("decide-result");
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    const resp = await post(form.action, new FormData(form));
    if (!resp.ok) {
      submit.disabled = false;
      const msg = await errorOf(resp);
      if (out) out.textContent = msg;
      toast(msg, true);
      return;
    }
    const j = await resp.json();
    if (out) out.textContent = j.message + " Press n for the next case.";
    form.querySelectorAll("input, select, textarea, button").forEach((el) => { el.disabled = true; });
    form.classList.add("done");
    // the page now says what the decision did: the case's state and the account's
    const st = document.getElementById("case-status");
    if (st && j.status) { st.textContent = j.status; st.className = "status s-" + j.status; }
    const acct = document.getElementById("account-status");
    if (acct && j.account) acct.textContent = j.account;
    const susp = document.getElementById("account-suspension");
    if (susp) susp.textContent = j.suspension ? "(" + j.suspension + ")" : "";
    toast(j.message);
  }

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button.reveal");
    if (b) { ev.preventDefault(); reveal(b); }
  });
  document.addEventListener("submit", (ev) => {
    if (ev.target.id === "decide") { ev.preventDefault(); decide(ev.target); }
  });

  // -- keyboard shortcuts ----------------------------------------------------------------------
  function typing(el) {
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) return;
    const root = meta("console-root");
    const click = (sel) => { const el = document.querySelector(sel); if (el) { el.click(); return true; } return false; };
    switch (ev.key) {
      case "n": { const f = document.getElementById("next-form"); if (f) { ev.preventDefault(); f.submit(); } break; }
      case "c": if (click("#outcome-confirm")) { ev.preventDefault(); document.getElementById("category").focus(); } break;
      case "r": if (click("#outcome-reject")) { ev.preventDefault(); document.getElementById("note").focus(); } break;
      case "v": { const b = document.querySelector("button.reveal:not([disabled])"); if (b) { ev.preventDefault(); reveal(b); } break; }
      case "q": ev.preventDefault(); location.href = root + "/queue"; break;
      case "?": { const d = document.getElementById("help"); if (d && d.showModal) { ev.preventDefault(); d.showModal(); } break; }
    }
  });
})();
