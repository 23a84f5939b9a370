// chatbus web UI: plain JavaScript, no build step, no inline script (CSP).
// User text is only ever set with textContent, never as HTML, and each
// piece of it is isolated (an element with dir="auto", or a <bdi>), so that
// right-to-left text or a stray bidi mark cannot reorder what is around it.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { me: null, rooms: [], friends: [], room: null, lastSeq: 0, events: null, poll: null };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// userEl is el for user text: isolated, its direction its own.
function userEl(tag, cls, text) {
  const e = el(tag, cls, text);
  e.dir = "auto";
  return e;
}

function bdi(text) { return el("bdi", "", text); }

// nameAndId is "name (id)", name and id isolated from each other.
function nameAndId(name, id) { return [bdi(name), " (", bdi(id), ")"]; }

// joined is names, each isolated, separated by commas.
function joined(names) { return names.flatMap((n, i) => (i ? [", ", bdi(n)] : [bdi(n)])); }

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new Error("The server cannot be reached.");
  }
  if (res.status === 204) return {};
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((data.error && data.error.message) || res.statusText);
    err.status = res.status;
    if (res.status === 401 && state.me) showAuth();
    throw err;
  }
  return data;
}

function showConn(text, offline) {
  const c = $("conn");
  c.hidden = !text;
  c.textContent = text || "";
  c.classList.toggle("offline", !!offline);
}

// ---- log in and sign up ------------------------------------------------

function showAuth() {
  state.me = null;
  stopEvents();
  $("app").hidden = true;
  $("auth").hidden = false;
  $("loading").hidden = true;
  $("login-form").reset(); // no password stays in a form after logout
  $("signup-form").reset();
  authTab(true);
  openEvents(); // the seed's flow: the login page listens before it sends
}

function authTab(login) {
  $("tab-login").classList.toggle("active", login);
  $("tab-signup").classList.toggle("active", !login);
  $("login-form").hidden = !login;
  $("signup-form").hidden = login;
  $("auth-error").textContent = "";
}

// logIn sends the credentials and waits for the answer on the event stream
// (the seed's flow), with the HTTP answer as a fallback.
async function logIn(userId, userPw) {
  $("auth-error").textContent = "";
  $("loading").hidden = false;
  const viaStream = new Promise((resolve) => { state.onLogin = resolve; });
  try {
    const res = await api("POST", "/api/login", { userId, userPw });
    await Promise.race([viaStream, new Promise((r) => setTimeout(r, 3000))]);
    enterApp(res.user);
  } catch (e) {
    $("loading").hidden = true;
    $("auth-error").textContent = e.message;
  } finally {
    state.onLogin = null;
  }
}

$("tab-login").onclick = () => authTab(true);
$("tab-signup").onclick = () => authTab(false);
$("login-form").onsubmit = (ev) => {
  ev.preventDefault();
  const f = ev.target;
  logIn(f.userId.value, f.userPw.value);
};
$("signup-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  $("auth-error").textContent = "";
  try {
    await api("POST", "/api/signup", { userId: f.userId.value, userPw: f.userPw.value, email: f.email.value, userName: f.userName.value });
    await logIn(f.userId.value, f.userPw.value);
  } catch (e) {
    $("auth-error").textContent = e.message;
  }
};

// ---- events -------------------------------------------------------------

// openEvents opens the event stream. Each event's id is a cursor: the
// browser sends the last one when it reconnects (Last-Event-ID) and is given
// exactly what it missed. A new EventSource (after the server refused one)
// carries it as a parameter; "resync" means the gap could not be filled, so
// everything is loaded again.
function openEvents() {
  stopEvents();
  const url = state.me && state.cursor ? "/api/events?lastEventId=" + encodeURIComponent(state.cursor) : "/api/events";
  const es = new EventSource(url);
  state.events = es;
  const on = (name, fn) => es.addEventListener(name, (ev) => {
    if (ev.lastEventId) state.cursor = ev.lastEventId;
    fn(ev.data ? JSON.parse(ev.data) : {});
  });
  on("ready", (data) => {
    showConn("");
    if (state.me && !data.authenticated) { showAuth(); return; } // the session ended
    // Pushes flow from here on; a stream that did not resume from a cursor
    // may have missed some before: load again, now that none will be missed.
    if (state.me && !data.resumed) reloadAll();
  });
  on("resync", () => { if (state.me) reloadAll(); });
  on("heartbeat", () => {}); // it carries the cursor: on() keeps it
  on("login", (data) => { if (state.onLogin && data.user) state.onLogin(data.user); });
  on("friend", (data) => onFriendedBy(data));
  on("status", () => loadFriends());
  on("room", () => loadRooms());
  on("message", (data) => onMessage(data));
  on("read", (data) => onRead(data));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      showConn("Disconnected. Reconnecting…", true);
      setTimeout(() => { if (state.events === es) openEvents(); }, 2000);
    } else {
      showConn("Reconnecting…");
    }
  };
}

function reloadAll() {
  loadRooms();
  loadFriends();
  loadMessages(false);
}

function stopEvents() {
  if (state.events) state.events.close();
  state.events = null;
}

// ---- the messenger ------------------------------------------------------

function initials(name) {
  return (name || "?").trim().slice(0, 1).toUpperCase();
}

function enterApp(user) {
  if (!state.me || state.me.userId !== user.userId) state.cursor = "";
  state.me = user;
  $("auth").hidden = true;
  $("loading").hidden = true;
  $("app").hidden = false;
  renderMe();
  openEvents(); // now with the session: the user's own stream
  loadRooms();
  loadFriends();
}

function renderMe() {
  $("me-avatar").textContent = initials(state.me.userName);
  $("me-name").replaceChildren(...nameAndId(state.me.userName, state.me.userId));
  $("me-status").dir = "auto";
  $("me-status").textContent = state.me.userStatus || "Set a status message";
}

$("me-status").onclick = () => {
  const f = $("status-form");
  f.hidden = !f.hidden;
  f.userStatus.value = state.me.userStatus || "";
  if (!f.hidden) f.userStatus.focus();
};
$("status-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    const res = await api("PUT", "/api/me/status", { userStatus: ev.target.userStatus.value });
    state.me = res.user;
    renderMe();
    ev.target.hidden = true;
    sideError("");
  } catch (e) { sideError(e.message); }
};
$("logout").onclick = async () => {
  try { await api("POST", "/api/logout"); } catch (e) { /* the session is gone either way */ }
  leaveRoom();
  showAuth();
};

function sideError(text) { $("side-error").textContent = text; }

// onFriendedBy tells that someone added you, offering to add them back.
async function onFriendedBy(f) {
  await loadFriends();
  const known = state.friends.some((x) => x.userId === f.userId);
  $("notice-text").replaceChildren(...nameAndId(f.userName, f.userId), " added you as a friend.");
  const btn = $("notice-action");
  btn.hidden = known;
  btn.textContent = "Add back";
  btn.onclick = async () => {
    try {
      await api("POST", "/api/friends", { friendIds: [f.userId] });
      $("notice").hidden = true;
      loadFriends();
    } catch (e) { sideError(e.message); }
  };
  $("notice").hidden = false;
}
$("notice-close").onclick = () => { $("notice").hidden = true; };

function sideTab(chats) {
  $("tab-chats").classList.toggle("active", chats);
  $("tab-friends").classList.toggle("active", !chats);
  $("chats-pane").hidden = !chats;
  $("friends-pane").hidden = chats;
}
$("tab-chats").onclick = () => sideTab(true);
$("tab-friends").onclick = () => sideTab(false);

async function loadFriends() {
  try {
    state.friends = (await api("GET", "/api/friends")).friends;
  } catch (e) { sideError(e.message); return; }
  const ul = $("friends");
  ul.replaceChildren();
  for (const f of state.friends) {
    const li = el("li", "friend");
    li.append(el("div", "avatar", initials(f.userName)));
    const text = el("div", "text");
    text.append(userEl("div", "name", f.userName), userEl("div", "sub", f.userStatus || f.userId));
    li.append(text);
    const chat = el("button", "ghost", "Chat");
    chat.onclick = () => openRoom([f.userId], "");
    li.append(chat);
    ul.append(li);
  }
  $("friends-empty").hidden = state.friends.length > 0;
}

$("friend-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const input = ev.target.friendId;
  try {
    await api("POST", "/api/friends", { friendIds: [input.value.trim()] });
    input.value = "";
    sideError("");
    loadFriends();
  } catch (e) { sideError(e.message); }
};

function timeOf(iso) {
  const d = new Date(iso);
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString();
}

function roomTitle(r) { return roomTitleNodes(r).map((n) => (typeof n === "string" ? n : n.textContent)).join(""); }

// roomTitleNodes is the room's title as nodes: its name, or its other
// members' names, each isolated.
function roomTitleNodes(r) {
  if (r.roomName) return [bdi(r.roomName)];
  const others = r.members.filter((m) => m.userId !== state.me.userId).map((m) => m.userName);
  return others.length ? joined(others) : ["Just you"];
}

async function loadRooms() {
  try {
    state.rooms = (await api("GET", "/api/rooms")).rooms;
  } catch (e) { sideError(e.message); return; }
  // The open room keeps the read positions it has heard of since.
  const open = state.room && state.rooms.find((r) => r.roomId === state.room.roomId);
  if (open) {
    for (const m of open.members) m.readSeq = Math.max(m.readSeq, state.reads[m.userId] || 0);
    state.room.members = open.members;
  }
  renderRooms();
}

// renderRooms shows the room list, with each room's unread badge (none for
// the room in view: it is being read).
function renderRooms() {
  const ul = $("rooms");
  ul.replaceChildren();
  for (const r of state.rooms) {
    const li = el("li", "room" + (state.room && state.room.roomId === r.roomId ? " active" : ""));
    li.dataset.roomId = r.roomId;
    li.append(el("div", "avatar", initials(roomTitle(r))));
    const text = el("div", "text");
    const name = el("div", "name");
    name.append(...roomTitleNodes(r));
    text.append(name, userEl("div", "sub", r.lastMessage ? r.lastMessage.message : "No messages yet"));
    li.append(text);
    const meta = el("div", "meta");
    meta.append(el("span", "", timeOf(r.lastActivityAt)));
    if (r.members.length > 2) meta.append(el("span", "", String(r.members.length)));
    if (r.unread > 0 && !inView(r.roomId)) meta.append(el("span", "badge", r.unread > 999 ? "999+" : String(r.unread)));
    li.append(meta);
    li.onclick = () => enterRoom(r);
    ul.append(li);
  }
  $("rooms-empty").hidden = state.rooms.length > 0;
}

$("new-room").onclick = () => {
  const f = $("room-form");
  f.hidden = !f.hidden;
  const box = $("room-choices");
  box.replaceChildren();
  for (const fr of state.friends) {
    const label = el("label");
    const cb = el("input");
    cb.type = "checkbox";
    cb.value = fr.userId;
    label.append(cb, ...nameAndId(fr.userName, fr.userId));
    box.append(label);
  }
  if (state.friends.length === 0) box.append(el("p", "hint", "Add friends first, on the Friends tab."));
};
$("room-form").onsubmit = (ev) => {
  ev.preventDefault();
  const ids = [...$("room-choices").querySelectorAll("input:checked")].map((c) => c.value);
  if (ids.length === 0) { sideError("Choose at least one friend."); return; }
  openRoom(ids, ev.target.name.value.trim());
  ev.target.hidden = true;
  ev.target.name.value = "";
};

async function openRoom(memberIds, name) {
  try {
    const res = await api("POST", "/api/rooms", { memberIds, name });
    sideError("");
    sideTab(true);
    await loadRooms();
    enterRoom(res.room);
  } catch (e) { sideError(e.message); }
}

function enterRoom(r) {
  state.room = r;
  state.lastSeq = 0;
  state.readSent = 0;
  // The members' read positions, kept up to date by read and message
  // events: they give each message its "not read yet" count.
  state.reads = {};
  for (const m of r.members) state.reads[m.userId] = m.readSeq || 0;
  $("app").classList.add("in-room");
  $("chat-title").replaceChildren(...roomTitleNodes(r));
  $("chat-members").replaceChildren(...joined(r.members.map((m) => m.userName)));
  $("messages").replaceChildren();
  $("send-form").hidden = false;
  for (const li of $("rooms").children) li.classList.toggle("active", li.dataset.roomId == r.roomId);
  // New messages come live on the event stream (onMessage); a message that
  // comes before the first page is in waits for it.
  state.loading = loadMessages(true);
  $("send-form").message.focus();
  renderRooms(); // its badge goes: it is being read
}

function leaveRoom() {
  state.room = null;
  clearTimeout(state.readTimer);
  state.readTimer = null;
  $("app").classList.remove("in-room");
}
$("back").onclick = () => { leaveRoom(); loadRooms(); };

async function loadMessages(first) {
  const r = state.room;
  if (!r) return;
  const q = first ? "?limit=100" : "?after=" + state.lastSeq + "&limit=200";
  let msgs;
  try {
    msgs = (await api("GET", "/api/rooms/" + r.roomId + "/messages" + q)).messages;
  } catch (e) { return; }
  if (state.room !== r) return;
  if (first) {
    state.firstSeq = msgs.length ? msgs[0].seq : 0;
    showEarlier();
  }
  for (const m of msgs) addMessage(m);
  if (msgs.length > 0 && !first) refreshRoomsSoon();
}

// showEarlier offers the messages before the first one shown.
function showEarlier() {
  const box = $("messages");
  let btn = $("earlier");
  if (state.firstSeq > 1) {
    if (!btn) {
      btn = el("button", "ghost earlier", "Earlier messages");
      btn.id = "earlier";
      btn.type = "button";
      btn.onclick = loadEarlier;
    }
    box.prepend(btn);
  } else if (btn) {
    btn.remove();
  }
}

async function loadEarlier() {
  const r = state.room;
  let msgs;
  try {
    msgs = (await api("GET", "/api/rooms/" + r.roomId + "/messages?limit=100&before=" + state.firstSeq)).messages;
  } catch (e) { sideError(e.message); return; }
  if (state.room !== r || msgs.length === 0) return;
  const box = $("messages");
  const height = box.scrollHeight;
  const anchor = $("earlier").nextSibling;
  for (const m of msgs) box.insertBefore(messageEl(m), anchor);
  state.firstSeq = msgs[0].seq;
  showEarlier();
  box.scrollTop += box.scrollHeight - height; // keep what was in view in view
}

// refreshRoomsSoon reloads the room list (last message, order) at most
// once a second.
function refreshRoomsSoon() {
  if (state.roomsTimer) return;
  state.roomsTimer = setTimeout(() => { state.roomsTimer = null; loadRooms(); }, 1000);
}

async function onMessage(m) {
  refreshRoomsSoon();
  // Its writer has read up to it.
  if (state.room && m.roomId === state.room.roomId) setRead(m.writerId, m.seq);
  if (!state.room || m.roomId !== state.room.roomId) return;
  await state.loading;
  if (m.seq === state.lastSeq + 1) addMessage(m);
  else if (m.seq > state.lastSeq) loadMessages(false); // fill the gap, in order
}

// randomId names a message so that a resend of it is not saved twice
// (crypto.randomUUID exists on https and localhost only).
function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function addMessage(m) {
  if (m.seq <= state.lastSeq) return; // seen already
  state.lastSeq = m.seq;
  const box = $("messages");
  const near = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const mine = m.writerId === state.me.userId;
  box.append(messageEl(m));
  if (near || mine) box.scrollTop = box.scrollHeight;
  markReadSoon();
}

function messageEl(m) {
  const mine = m.writerId === state.me.userId;
  const div = el("div", "msg" + (mine ? " mine" : ""));
  div.dataset.seq = m.seq;
  if (!mine) {
    const w = state.room.members.find((x) => x.userId === m.writerId);
    div.append(userEl("div", "who", w ? w.userName : m.writerId));
  }
  const meta = el("div", "time");
  const count = el("span", "unread-count");
  meta.append(count, document.createTextNode(timeOf(m.createdAt)));
  div.append(userEl("div", "bubble", m.message), meta);
  div.dataset.writer = m.writerId;
  div.dataset.unread = m.unreadCount === undefined ? "" : m.unreadCount;
  showUnread(div);
  return div;
}

// ---- read receipts ------------------------------------------------------

// unreadOf counts the members other than the writer who have not read up
// to seq, by the read positions heard of.
function unreadOf(writerId, seq) {
  return state.room.members.filter((m) => m.userId !== writerId && (state.reads[m.userId] || 0) < seq).length;
}

// showUnread sets a message's "not read yet" count (hidden at 0). The
// backend's count when the message was read is an upper bound: positions
// only move forward.
function showUnread(div) {
  let n = unreadOf(div.dataset.writer, Number(div.dataset.seq));
  if (div.dataset.unread !== "") n = Math.min(n, Number(div.dataset.unread));
  const c = div.querySelector(".unread-count");
  c.textContent = n > 0 ? String(n) : "";
  c.hidden = n === 0;
}

// setRead notes that a member of the open room has read up to seq, and
// recounts the messages shown when that changes anything.
function setRead(userId, seq) {
  if ((state.reads[userId] || 0) >= seq) return;
  state.reads[userId] = seq;
  const m = state.room.members.find((x) => x.userId === userId);
  if (m) m.readSeq = seq;
  for (const div of $("messages").querySelectorAll(".msg")) showUnread(div);
}

// onRead hears that a member read further: the open room recounts its
// messages; the room list's badge follows the user's own reads (from this
// device or another).
function onRead(st) {
  const r = state.rooms.find((x) => x.roomId === st.roomId);
  if (r) {
    const m = r.members.find((x) => x.userId === st.userId);
    if (m) m.readSeq = Math.max(m.readSeq, st.readSeq);
    if (st.userId === state.me.userId) r.unread = Math.min(r.unread, st.unread);
  }
  if (state.room && state.room.roomId === st.roomId) setRead(st.userId, st.readSeq);
  if (st.userId === state.me.userId) renderRooms();
}

// inView tells whether the room is open and the page is seen.
function inView(roomId) {
  return !!state.room && state.room.roomId === roomId && document.visibilityState === "visible";
}

// markReadSoon tells the backend, after a moment, that the user has read
// the open room up to the last message shown: one call for a burst.
function markReadSoon() {
  if (state.readTimer || !state.room || !inView(state.room.roomId)) return;
  state.readTimer = setTimeout(markRead, 300);
}

async function markRead() {
  state.readTimer = null;
  const r = state.room;
  const seq = state.lastSeq;
  if (!r || seq <= state.readSent || !inView(r.roomId)) return;
  state.readSent = seq;
  setRead(state.me.userId, seq);
  try {
    onRead(await api("POST", "/api/rooms/" + r.roomId + "/read", { seq }));
  } catch (e) {
    if (state.room === r) state.readSent = 0; // try again with the next message
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    markReadSoon();
    if (state.me) renderRooms();
  }
});

$("send-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const ta = ev.target.message;
  const text = ta.value;
  if (!text.trim() || !state.room) return;
  const clientMsgId = randomId();
  ta.value = "";
  try {
    const res = await api("POST", "/api/rooms/" + state.room.roomId + "/messages", { message: text, clientMsgId });
    onMessage(res.message); // in order: a gap before it is filled first
  } catch (e) {
    ta.value = text;
    sideError(e.message);
  }
};
$("send-form").message.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("send-form").requestSubmit();
  }
});

// ---- start ----------------------------------------------------------------

(async () => {
  try {
    enterApp((await api("GET", "/api/me")).user);
  } catch (e) {
    showAuth();
  }
})();
