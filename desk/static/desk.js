// The desk's few behaviours: live queue, the channel counter, canned answers, the new-intent field.
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
        rows.innerHTML = data.rows;
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
})();
