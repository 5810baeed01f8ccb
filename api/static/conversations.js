// citewise web page: the conversation list (sidebar) and the current conversation's earlier messages.
// Uses app.js's helpers ($, el, api, errorText, renderAnswer, setStatus); app.js asks through `send`.
"use strict";

const Conversations = {
  current: null, // the conversation questions go to; null: the next question starts one
  shown: null, // the message shown in the answer section (it moves to the history when the next one comes)

  async send(question, signal) {
    // POST the message (SSE); a conversation that is gone (deleted, expired) is replaced by a new one, once.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.current) {
        const made = await api("/v1/conversations", { method: "POST", body: "{}", signal });
        if (!made.ok) return made;
        this.current = (await made.json()).conversation_id;
      }
      const r = await api(`/v1/conversations/${encodeURIComponent(this.current)}/messages`, {
        method: "POST", body: JSON.stringify({ message: question, stream: true }), signal,
      });
      if (r.status !== 404 || attempt > 0) return r;
      this.startNew(false);
    }
  },

  answered(message) {
    if (this.shown) $("history").append(this.historyItem(this.shown));
    this.shown = message;
    this.refresh();
  },

  historyItem(m) {
    const item = el("li", { class: "turn" });
    item.append(el("strong", {}, m.question));
    if (m.rewritten_question !== m.question) item.append(el("span", { class: "meta" }, ` (asked as: ${m.rewritten_question})`));
    item.append(el("span", { class: "answer-text" }, m.answer.answer));
    return item;
  },

  startNew(refresh = true) {
    this.current = null;
    this.shown = null;
    $("history").replaceChildren();
    $("answer-section").hidden = true;
    $("hits-section").hidden = true;
    $("question").value = "";
    if (refresh) this.refresh();
    $("question").focus();
  },

  async open(id) {
    const r = await api(`/v1/conversations/${encodeURIComponent(id)}`);
    if (!r.ok) { setStatus("Could not open the conversation: " + (await errorText(r)), true); this.refresh(); return; }
    const conversation = await r.json();
    this.startNew(false);
    this.current = conversation.conversation_id;
    const messages = conversation.messages;
    for (const m of messages.slice(0, -1)) $("history").append(this.historyItem(m));
    const last = messages[messages.length - 1];
    if (last) {
      this.shown = last;
      $("answer-section").hidden = false;
      $("asked-as").textContent = `Asked as: ${last.rewritten_question}`;
      $("asked-as").hidden = last.rewritten_question === last.question;
      renderAnswer(last.answer);
      showFeedback(last.answer.answer_id);
    }
    this.refresh();
  },

  async remove(id) {
    const r = await api(`/v1/conversations/${encodeURIComponent(id)}`, { method: "DELETE" });
    if (!r.ok && r.status !== 404) { setStatus("Could not delete: " + (await errorText(r)), true); return; }
    if (id === this.current) this.startNew(false);
    this.refresh();
  },

  async refresh() {
    const list = $("conversation-list");
    const r = await api("/v1/conversations?limit=50");
    if (!r.ok) {
      list.replaceChildren(el("li", { class: "meta" }, r.status === 401 ? "Enter an API key to see your conversations." : "Conversations are unavailable."));
      return;
    }
    const page = await r.json();
    list.replaceChildren();
    for (const c of page.conversations) {
      const item = el("li", { "data-id": c.conversation_id });
      const link = el("a", { href: "#", title: c.title || "(no messages yet)" }, c.title || "(no messages yet)");
      if (c.conversation_id === this.current) link.setAttribute("aria-current", "true");
      link.addEventListener("click", (e) => { e.preventDefault(); this.open(c.conversation_id); });
      const del = el("button", { type: "button", class: "delete", "aria-label": `Delete conversation: ${c.title}` }, "Delete");
      del.addEventListener("click", () => this.remove(c.conversation_id));
      item.append(link, del);
      list.append(item);
    }
    if (!page.conversations.length) list.append(el("li", { class: "meta" }, "No conversations yet."));
  },
};

$("new-conversation").addEventListener("click", () => Conversations.startNew());
