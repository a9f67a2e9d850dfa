// The caller page of one tenant web widget: click-to-call (WebRTC, keypad) and web chat.
"use strict";

const widgetId = decodeURIComponent(location.pathname.split("/").pop());
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
// What tests (and curious people) can read: state, position, what was heard, key presses.
const vcc = window.vcc = { widget: null, voice: { state: "idle", contactId: "", position: null, ewt: null,
  media: [], keys: [] }, chat: { state: "idle", contactId: "", position: null, lines: [] }, errors: [], audio: null };

function wsUrl() { return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/call/${encodeURIComponent(widgetId)}`; }
function showError(text) { vcc.errors.push(text); $("error").textContent = text; }
function fmtWait(s) { return s == null ? "unknown" : (s < 60 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`); }

function open(onMessage) {
  const ws = new WebSocket(wsUrl());
  const ready = new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = () => onMessage({ type: "closed" });
  return { ws, ready, send: (m) => ws.send(JSON.stringify(m)) };
}

// ---------------------------------------------------------------- voice
let voiceLine = null, mic = null, rtc = null, answerWaiter = null;

function onVoice(m) {
  const v = vcc.voice;
  if (m.type === "contact") v.contactId = m.contact_id;
  else if (m.type === "answer" && answerWaiter) answerWaiter.resolve(m.sdp);
  else if (m.type === "status") $("call-state").textContent = m.text;
  else if (m.type === "state") { v.state = m.state; $("call-state").textContent = m.state + (m.reason ? ` (${m.reason})` : ""); if (["completed", "abandoned", "failed"].includes(m.state)) endVoice(); }
  else if (m.type === "position") { v.position = m.position; v.ewt = m.ewt_s; $("position").textContent = m.position; $("ewt").textContent = fmtWait(m.ewt_s); }
  else if (m.type === "media") {
    v.media.push(m.event);
    const e = m.event;
    const line = e.kind === "prompt" ? `prompt: ${e.prompt}` : e.kind === "announce" ? `announcement: ${e.text}` :
      e.kind === "dtmf" ? `key heard: ${e.digit} (${e.source})` : e.kind;
    const div = document.createElement("div"); div.textContent = line; $("media-log").prepend(div);
  } else if (m.type === "error") {
    if (answerWaiter) answerWaiter.reject(new Error(m.error));  // the call did not start
    else showError(m.error);
  } else if (m.type === "closed") {
    if (answerWaiter) answerWaiter.reject(new Error("the line to the site closed"));
    else endVoice();
  }
}

async function startCall() {
  $("call").disabled = true;
  try {
    mic = await VccRtc.microphone();
    const line = open((m) => { if (line === voiceLine) onVoice(m); });  // a line given up on says no more
    voiceLine = line;
    await voiceLine.ready;
    rtc = await VccRtc.call(mic.stream, (sdp) => new Promise((resolve, reject) => {
      answerWaiter = { resolve, reject };
      voiceLine.send({ op: "call", caller_id: $("caller-id").value, sdp });
    }));
    answerWaiter = null;
    vcc.audio = VccRtc.listen(rtc.remote, $("remote-audio"));
    $("hangup").disabled = false;
  } catch (e) {  // refused, or the media could not start: nothing stays open, the caller may call again
    answerWaiter = null;
    if (voiceLine) { voiceLine.ws.onclose = null; voiceLine.ws.close(); voiceLine = null; }
    endVoice();
    showError(`call failed: ${e.message || e}`);
  }
}

function endVoice() {
  if (rtc) { rtc.pc.close(); rtc = null; }
  if (mic) { mic.mic.getTracks().forEach((t) => t.stop()); mic = null; }
  $("hangup").disabled = true; $("call").disabled = false;
}

function hangUp() { if (voiceLine) voiceLine.send({ op: "hangup" }); endVoice(); }

function press(digit) {
  if (!rtc || !mic) return;
  const how = VccRtc.pressKey(digit, rtc.sender, mic, params.get("dtmf") || "auto");
  vcc.voice.keys.push({ digit, how });
}

// ---------------------------------------------------------------- chat
let chatLine = null;

function addLine(from, text) {
  vcc.chat.lines.push({ from, text });
  const div = document.createElement("div"); div.textContent = `${from}: ${text}`; $("chat-lines").append(div);
}

function onChat(m) {
  const c = vcc.chat;
  if (m.type === "contact") { c.contactId = m.contact_id; $("chat-end").disabled = false; }
  else if (m.type === "status") $("chat-state").textContent = m.text;
  else if (m.type === "state") { c.state = m.state; $("chat-state").textContent = m.state; if (m.reason === "caller_left") $("chat-state").textContent += " (you left)"; }
  else if (m.type === "position") { c.position = m.position; $("chat-position").textContent = m.position; $("chat-ewt").textContent = fmtWait(m.ewt_s); }
  else if (m.type === "message") addLine("agent", m.text);
  else if (m.type === "error") showError(m.error);
}

async function startChat() {
  $("chat-start").disabled = true;
  chatLine = open(onChat);
  await chatLine.ready;
  chatLine.send({ op: "chat", caller_id: $("caller-id").value });
}

function sendChat() {
  const text = $("chat-text").value.trim();
  if (!text || !chatLine) return;
  chatLine.send({ op: "message", text });
  addLine("me", text);
  $("chat-text").value = "";
}

// ---------------------------------------------------------------- page
async function init() {
  const r = await fetch(`/api/widget/${encodeURIComponent(widgetId)}`);
  const info = await r.json();
  if (!r.ok) { showError(info.error); return; }
  vcc.widget = info;
  $("tenant-name").textContent = info.name;
  $("site").textContent = `site ${info.site}`;
  if (info.voice) $("voice-box").classList.remove("hidden");
  if (info.chat) $("chat-box").classList.remove("hidden");
  for (const d of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]) {
    const b = document.createElement("button"); b.textContent = d; b.id = `key-${d === "*" ? "star" : d === "#" ? "hash" : d}`;
    b.onclick = () => press(d); $("keypad").append(b);
  }
  $("call").onclick = startCall;
  $("hangup").onclick = hangUp;
  $("chat-start").onclick = startChat;
  $("chat-send").onclick = sendChat;
  $("chat-text").onkeydown = (e) => { if (e.key === "Enter") sendChat(); };
  $("chat-end").onclick = () => { if (chatLine) chatLine.send({ op: "hangup" }); $("chat-end").disabled = true; };
  vcc.loaded = true;
}
init();
