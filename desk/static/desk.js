// The desk's few behaviours: live queue and case, the channel counter, canned answers, the
// new-intent field, the unanswered-message warning, keyboard shortcuts.
// No inline script (the CSP forbids it); text from the server is only ever set as textContent,
// except the queue's rows, which the server renders with autoescaping.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Live queue: fetch the rows and the counts again every few seconds.
  const rows = document.getElementById("queue-rows");
  if (rows && rows.dataset.poll) {
    const seconds = Math.max(2, parseInt(rows.dataset.pollSeconds || "5", 10));
    const summary = document.getElementById("summary");
    const updated = document.getElementById("updated");
    const refresh = async function () {
      try {
        const answer = await fetch(rows.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (answer.status === 401) { window.location.assign("/login"); return; }
        if (!answer.ok) return;
        const data = await answer.json();
        const selected = rows.querySelector("tr.selected");
        rows.innerHTML = data.rows;
        if (selected) {
          const again = rows.querySelector('tr[data-ticket="' + selected.dataset.ticket + '"]');
          if (again) again.classList.add("selected");
        }
        if (summary) summary.innerHTML = data.summary;
        if (updated) updated.textContent = "updated " + new Date().toLocaleTimeString();
      } catch (error) { /* offline for a moment: try again next time */ }
    };
    window.setInterval(refresh, seconds * 1000);
  }

  // The channel's limit while typing (counted by the server with the renderer's own rules).
  const answer = document.getElementById("answer");
  const counter = document.getElementById("counter");
  if (answer && counter && answer.dataset.measure) {
    let timer = null;
    const measure = async function () {
      try {
        const reply = await fetch("/api/measure", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify({ ticket: parseInt(answer.dataset.measure, 10), text: answer.value }),
        });
        if (!reply.ok) return;
        const m = await reply.json();
        counter.textContent = m.limit === null ? m.used + " " + m.detail
          : (m.left >= 0 ? m.left + " left of " + m.limit + " " + m.detail
            : (-m.left) + " over the limit of " + m.limit + " " + m.detail + ": it will be shortened or split");
        counter.classList.toggle("over", Boolean(m.over));
      } catch (error) { /* the count is a help, not a gate */ }
    };
    answer.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(measure, 200); });
    if (answer.value) measure();
  }

  // Insert a canned answer or the bot's suggestion where the cursor is.
  document.querySelectorAll("button.insert").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!answer) return;
      const text = button.dataset.text || "";
      const start = answer.selectionStart || 0, end = answer.selectionEnd || 0;
      answer.value = answer.value.slice(0, start) + text + answer.value.slice(end);
      answer.focus();
      answer.dispatchEvent(new Event("input"));
    });
  });

  // Search the canned answers as you type.
  const search = document.getElementById("canned-search");
  if (search) {
    search.addEventListener("input", function () {
      const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      document.querySelectorAll("#canned-list li[data-search]").forEach(function (item) {
        const haystack = item.dataset.search || "";
        item.hidden = !words.every(function (w) { return haystack.includes(w); });
      });
    });
  }

  // "A new intent…" shows the name field.
  const intent = document.getElementById("intent");
  const newIntent = document.getElementById("new-intent");
  if (intent && newIntent) {
    const sync = function () {
      const isNew = intent.value === "__new__";
      newIntent.closest("label").classList.toggle("shown", isNew);
      newIntent.required = isNew;
    };
    intent.addEventListener("change", sync);
    sync();
  }

  // The case page follows the conversation: new lines (masked) appear without a reload.
  const lines = document.getElementById("lines");
  const resolveForm = document.getElementById("resolve-form");
  if (lines && lines.dataset.events) {
    let after = parseInt(lines.dataset.after || "0", 10) || 0;
    const seconds = Math.max(2, parseInt(lines.dataset.pollSeconds || "5", 10));
    const stateBadge = document.getElementById("case-state");
    const overdueBadge = document.getElementById("case-overdue");
    const kinds = ["customer", "bot", "agent"];
    const follow = async function () {
      try {
        const reply = await fetch(lines.dataset.events + "?after=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (reply.status === 401) { window.location.assign("/login"); return; }
        if (!reply.ok) return;
        const data = await reply.json();
        (data.entries || []).forEach(function (entry) {
          const id = parseInt(entry.id, 10);
          if (!(id > after) || lines.querySelector('li[data-entry="' + id + '"]')) return;
          const item = document.createElement("li");
          item.className = "line " + (kinds.indexOf(entry.kind) >= 0 ? entry.kind : "bot") + " fresh";
          item.dataset.entry = String(id);
          const meta = document.createElement("div");
          meta.className = "meta";
          meta.textContent = entry.meta || "";
          const text = document.createElement("div");
          text.className = "text";
          text.textContent = entry.text || "";
          item.appendChild(meta);
          item.appendChild(text);
          lines.appendChild(item);
          after = Math.max(after, id);
        });
        if (stateBadge && data.state) {
          stateBadge.textContent = data.state_label || data.state;
          stateBadge.className = "badge state state-" + String(data.state).replace(/[^a-z_]/g, "");
        }
        if (overdueBadge) overdueBadge.hidden = !data.overdue;
        if (resolveForm) resolveForm.dataset.unanswered = data.unanswered ? "1" : "0";
      } catch (error) { /* offline for a moment: try again next time */ }
    };
    window.setInterval(follow, seconds * 1000);
  }

  // Resolving while the customer's last message has no answer asks first (the server does too).
  if (resolveForm) {
    const warning = document.getElementById("unanswered-warning");
    const confirmBox = document.getElementById("confirm-unanswered");
    resolveForm.addEventListener("submit", function (event) {
      if (resolveForm.dataset.unanswered !== "1" || (confirmBox && confirmBox.checked)) return;
      event.preventDefault();
      if (warning) warning.hidden = false;
      if (confirmBox) confirmBox.focus();
    });
  }

  // Keyboard shortcuts; none fires while typing in a field. "?" shows them.
  const SHORTCUTS = [
    ["j / k", "next / previous case in the list"],
    ["o or Enter", "open the selected case"],
    ["c", "claim this case"],
    ["r", "write the answer"],
    ["n", "write an internal note"],
    ["/", "search"],
    ["g then q", "back to the queue"],
    ["?", "show or hide this help"],
    ["Esc", "close this help"],
  ];
  let overlay = null;
  const toggleHelp = function (show) {
    if (!overlay) {
      overlay = document.createElement("div");
      overlay.id = "shortcuts";
      overlay.className = "overlay";
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-label", "Keyboard shortcuts");
      const box = document.createElement("div");
      box.className = "overlay-box";
      const title = document.createElement("h2");
      title.textContent = "Keyboard shortcuts";
      const list = document.createElement("dl");
      SHORTCUTS.forEach(function (pair) {
        const key = document.createElement("dt");
        const kbd = document.createElement("kbd");
        kbd.textContent = pair[0];
        key.appendChild(kbd);
        const what = document.createElement("dd");
        what.textContent = pair[1];
        list.appendChild(key);
        list.appendChild(what);
      });
      box.appendChild(title);
      box.appendChild(list);
      overlay.appendChild(box);
      overlay.addEventListener("click", function (event) { if (event.target === overlay) toggleHelp(false); });
      document.body.appendChild(overlay);
      overlay.hidden = true;
    }
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
  };
  const typing = function (target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  };
  const caseRows = function () {
    const body = document.getElementById("queue-rows");
    return body ? Array.prototype.slice.call(body.querySelectorAll("tr[data-ticket]")) : [];
  };
  const move = function (step) {
    const all = caseRows();
    if (!all.length) return;
    let index = all.findIndex(function (row) { return row.classList.contains("selected"); });
    all.forEach(function (row) { row.classList.remove("selected"); });
    index = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    all[index].classList.add("selected");
    all[index].scrollIntoView({ block: "nearest" });
  };
  const submitForm = function (suffix) {
    const form = Array.prototype.find.call(document.querySelectorAll("form[method=post]"), function (f) {
      return (f.getAttribute("action") || "").endsWith(suffix);
    });
    if (form) form.submit();
  };
  const focusField = function (id) {
    const field = document.getElementById(id);
    if (!field) return false;
    field.focus();
    if (field.scrollIntoView) field.scrollIntoView({ block: "center" });
    return true;
  };
  let lastG = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && overlay && !overlay.hidden) { toggleHelp(false); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = event.key;
    const afterG = Date.now() - lastG < 1500;
    lastG = 0;
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    if (key === "g") { lastG = Date.now(); return; }
    if (key === "q" && afterG) { window.location.assign("/queue"); return; }
    if (key === "j") { move(1); event.preventDefault(); }
    else if (key === "k") { move(-1); event.preventDefault(); }
    else if (key === "o" || key === "Enter") {
      const row = document.querySelector("#queue-rows tr.selected a");
      if (row) { event.preventDefault(); window.location.assign(row.getAttribute("href")); }
    } else if (key === "c") { submitForm("/claim"); }
    else if (key === "r") { if (focusField("answer")) event.preventDefault(); }
    else if (key === "n") { if (focusField("note")) event.preventDefault(); }
    else if (key === "/") { if (focusField("search") || focusField("canned-search")) event.preventDefault(); }
  });
})();
