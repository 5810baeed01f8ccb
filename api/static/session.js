// citewise web app: sign-in with an API key (kept in sessionStorage: this tab only), sign-out, the two views
// (Ask, Library). Loaded last: it starts the app.
"use strict";

const Session = {
  me: null,

  async start() {
    // A server without a keys file answers /v1/me without a key (open mode): no sign-in then.
    const r = await fetch("/v1/me", { headers: headers(false) }).catch(() => null);
    if (r && r.ok) return this.signedIn(await r.json());
    const stored = apiKey();
    sessionStorage.removeItem(KEY_SLOT);
    this.showForm(stored && r ? "The saved key is no longer accepted: " + (await errorText(r)) : "");
  },

  async signIn(e) {
    e.preventDefault();
    const key = $("signin-key").value.trim();
    if (!key) return;
    $("signin-button").disabled = true;
    $("signin-error").textContent = "";
    try {
      const r = await fetch("/v1/me", { headers: { Authorization: "Bearer " + key } });
      if (r.status === 401) {
        $("signin-error").textContent = "This key was not accepted. Check that you pasted all of it, or ask an administrator for a key.";
        $("signin-key").select();
        return;
      }
      if (!r.ok) { $("signin-error").textContent = "Could not sign in: " + (await errorText(r)); return; }
      sessionStorage.setItem(KEY_SLOT, key);
      $("signin-key").value = "";
      this.signedIn(await r.json());
    } catch (err) {
      $("signin-error").textContent = "The server could not be reached; try again.";
    } finally {
      $("signin-button").disabled = false;
    }
  },

  signedIn(me) {
    this.me = me;
    $("signin").hidden = true;
    $("views").hidden = false;
    $("who").hidden = false;
    $("who-label").textContent = me.open
      ? "Open server (no keys file)"
      : `${me.tenant} · ${me.role}${me.groups && me.groups.length ? " · groups " + me.groups.join(", ") : ""}`;
    $("sign-out").hidden = me.open;
    Library.setup(me);
    Conversations.startNew(false);
    Conversations.refresh();
    this.show("ask-view");
  },

  signOut(message) {
    sessionStorage.removeItem(KEY_SLOT);
    if (state.abort) state.abort.abort();
    this.me = null;
    Conversations.startNew(false);
    $("conversation-list").replaceChildren();
    Library.reset();
    if ($("viewer").open) $("viewer").close();
    this.showForm(message || "You are signed out.");
  },

  expired(message) {
    if (this.me && !this.me.open) this.signOut("Your key is no longer accepted: " + message);
  },

  showForm(message) {
    for (const v of document.querySelectorAll(".view")) v.hidden = true;
    $("views").hidden = true;
    $("who").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("signin-key").focus();
  },

  show(view) {
    for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== view;
    for (const b of document.querySelectorAll("#views button")) {
      if (b.dataset.view === view) b.setAttribute("aria-current", "page");
      else b.removeAttribute("aria-current");
    }
    if (view === "library-view") Library.refresh();
    else $("question").focus();
  },
};

$("signin-form").addEventListener("submit", (e) => Session.signIn(e));
$("sign-out").addEventListener("click", () => Session.signOut());
for (const b of document.querySelectorAll("#views button")) b.addEventListener("click", () => Session.show(b.dataset.view));
Session.start();
