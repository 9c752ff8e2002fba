// Cầu Nối web chat. Every text from the server goes in with textContent, never as HTML.
"use strict";

(function () {
  const body = document.body;
  const strings = JSON.parse(body.dataset.strings);
  const maxBytes = Number(body.dataset.maxBytes);
  const maxChars = Number(body.dataset.maxChars);
  let csrf = body.dataset.csrf;
  let cursor = 0;
  let polling = false;
  const log = document.getElementById("log");
  const notice = document.getElementById("notice");
  const textBox = document.getElementById("text");
  const bubbles = new Map(); // first id of a message -> its element

  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function showNotice(message, withReload) {
    notice.textContent = message;
    if (withReload) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = strings.reload;
      button.addEventListener("click", () => location.assign("/chat"));
      notice.appendChild(button);
    }
    notice.hidden = false;
  }

  function clearNotice() {
    notice.hidden = true;
    notice.textContent = "";
  }

  async function post(path, payload, headers) {
    const isFile = payload instanceof Blob;
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: Object.assign(
        { "X-CSRF-Token": csrf, "Content-Type": isFile ? payload.type || "application/octet-stream" : "application/json" },
        headers || {}
      ),
      body: isFile ? payload : JSON.stringify(payload),
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    if (!response.ok) {
      showNotice(answer.error || strings.bad_request, response.status === 401);
      return null;
    }
    clearNotice();
    return answer;
  }

  function time(iso) {
    const when = new Date(iso);
    const el = document.createElement("time");
    el.dateTime = iso;
    el.textContent = when.toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Ho_Chi_Minh" });
    return el;
  }

  function fill(el, event) {
    el.replaceChildren();
    const words = document.createElement("div");
    words.className = "text";
    words.textContent = event.text || "";
    el.appendChild(words);
    if (event.document) {
      const link = document.createElement("a");
      link.className = "download";
      link.download = event.document.name;
      link.href = URL.createObjectURL(new Blob([event.document.content], { type: "application/json" }));
      link.textContent = strings.download + " " + event.document.name;
      el.appendChild(link);
    }
    if (event.file && event.id) {
      const link = document.createElement("a");
      link.className = "download";
      link.href = "/chat/api/file/" + encodeURIComponent(event.id);
      link.textContent = strings.download;
      el.appendChild(link);
    }
    if (event.choices && event.choices.length) {
      const box = document.createElement("div");
      box.className = "choices";
      for (const row of event.choices) {
        const line = document.createElement("div");
        line.className = "row";
        for (const [id, label] of row) {
          const button = document.createElement("button");
          button.type = "button";
          button.dataset.choice = id;
          button.textContent = label;
          button.addEventListener("click", () => press(button, id));
          line.appendChild(button);
        }
        box.appendChild(line);
      }
      el.appendChild(box);
    }
    el.appendChild(time(event.at));
  }

  function show(event) {
    const first = event.replaces || event.id;
    let el = bubbles.get(first);
    if (!el) {
      el = document.createElement("div");
      el.className = "msg " + (event.outgoing ? "bot" : "me");
      el.dataset.id = String(first);
      bubbles.set(first, el);
      log.appendChild(el);
    }
    fill(el, event);
  }

  // News of the chat: the stream (server-sent events), or the long poll where a browser or a
  // proxy cannot keep one open.
  function poll() {
    if (polling) return;
    polling = true;
    if (!window.EventSource) return longPoll();
    let opened = false;
    let started = false;
    const source = new EventSource("/chat/api/stream?after=" + cursor);
    source.addEventListener("session", (e) => {
      opened = true;
      if (notice.textContent === strings.offline) clearNotice();
      const session = JSON.parse(e.data);
      document.getElementById("staff-badge").hidden = !session.staff;
      if (!started) {
        started = true;
        if (cursor === 0 && session.news === 0 && body.dataset.mode === "chat") say("/start", "start");
      }
    });
    source.onmessage = (e) => {
      const event = JSON.parse(e.data);
      show(event);
      cursor = Math.max(cursor, event.id);
      log.scrollTop = log.scrollHeight;
    };
    source.addEventListener("end", (e) => {
      source.close();
      showNotice(JSON.parse(e.data).error || strings.expired, true);
      polling = false;
    });
    source.onerror = () => {
      if (opened) {
        showNotice(strings.offline, false); // EventSource reconnects with Last-Event-ID
        return;
      }
      source.close(); // never opened (refused, or a proxy that buffers): the long poll
      longPoll();
    };
  }

  async function longPoll() {
    let started = false;
    while (true) {
      let answer;
      try {
        const response = await fetch("/chat/api/updates?after=" + cursor, { credentials: "same-origin" });
        if (response.status === 401) {
          const refusal = await response.json();
          showNotice(refusal.error || strings.expired, true);
          break;
        }
        if (!response.ok) throw new Error(String(response.status));
        answer = await response.json();
      } catch (e) {
        showNotice(strings.offline, false);
        await new Promise((done) => setTimeout(done, 3000));
        continue;
      }
      if (notice.textContent === strings.offline) clearNotice();
      document.getElementById("staff-badge").hidden = !answer.staff;
      for (const event of answer.events) show(event);
      if (answer.events.length) log.scrollTop = log.scrollHeight;
      const wasEmpty = cursor === 0 && answer.events.length === 0;
      cursor = answer.cursor;
      if (!started) {
        started = true;
        if (wasEmpty && body.dataset.mode === "chat") say("/start", "start");
      }
    }
    polling = false;
  }

  async function say(words, id) {
    const at = cursor;
    const answer = await post("/chat/api/send", { id: id || newId(), text: words });
    if (answer && answer.shown) showUnkept(answer.shown, at);
    return answer;
  }

  // Words the server does not keep (typed before consent): shown on this page only, in
  // their place before the answers that came after them; a reload does not bring them back.
  function showUnkept(words, at) {
    const el = document.createElement("div");
    el.className = "msg me";
    fill(el, { text: words, at: new Date().toISOString() });
    const later = Array.from(log.children).find((c) => Number(c.dataset.id) > at);
    log.insertBefore(el, later || null);
  }

  async function press(button, id) {
    button.classList.add("pressed");
    await post("/chat/api/send", { id: newId(), choice: id });
  }

  document.getElementById("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const words = textBox.value;
    if (!words.trim()) { showNotice(strings.empty, false); return; }
    if (words.length > maxChars) { showNotice(strings.too_long, false); return; }
    textBox.value = "";
    if (!(await say(words))) textBox.value = words;  // keep what was typed when it failed
  });

  textBox.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      document.getElementById("composer").requestSubmit();
    }
  });

  document.getElementById("file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    if (file.size > maxBytes) {
      showNotice(strings.too_big, false);
      return;
    }
    await post("/chat/api/upload", file, { "X-Event-Id": newId(), "X-File-Name": encodeURIComponent(file.name) });
  });

  for (const button of document.querySelectorAll("button.lang")) {
    button.addEventListener("click", async () => {
      if (await post("/chat/api/language", { id: newId(), language: button.dataset.lang })) location.reload();
    });
  }

  const dialog = document.getElementById("device-dialog");
  document.getElementById("another-device").addEventListener("click", async () => {
    const answer = await post("/chat/api/resume-link", {});
    if (!answer) return;
    document.getElementById("device-link").value = answer.link;
    dialog.showModal();
  });
  document.getElementById("device-close").addEventListener("click", () => dialog.close());
  document.getElementById("device-copy").addEventListener("click", async (e) => {
    const field = document.getElementById("device-link");
    field.select();
    try { await navigator.clipboard.writeText(field.value); e.target.textContent = strings.copied; } catch (err) { /* selected for manual copy */ }
  });

  async function enter(path, payload) {
    if (await post(path, payload)) location.assign("/chat");
  }

  const secret = location.hash.slice(1);
  if (body.dataset.mode === "resume") {
    document.getElementById("resume-form").hidden = false;
    document.getElementById("resume-go").addEventListener("click", () =>
      enter("/chat/api/resume", { token: secret, code: document.getElementById("resume-code").value })
    );
  } else if (body.dataset.mode === "signin") {
    document.getElementById("signin-form").hidden = false;
    document.getElementById("signin-go").addEventListener("click", () =>
      enter("/chat/api/signin", { token: secret })
    );
  }
  if (body.dataset.mode === "chat") poll();
})();
