// Drives Debian's Chromium (headless, through playwright-core, pinned in
// package.json / package-lock.json beside this file) for
// tests/integration/test_browser.py: opens the page the test serves
// (browser_chat.html with strophe.js), waits until the page sets
// window.result, prints JSON.stringify(window.result) as the one line of
// its stdout, and closes the browser.  It serves nothing itself.  To the
// page's result it adds the versions (browser, playwright, strophe) and
// websockets: [{url, closed, frames: [{dir: 'in'|'out', data}]}], each
// WebSocket's text frames as Chromium's network stack saw them.
//
// The page's console messages and errors, requests that fail, and this
// script's own progress go to stderr.  Exit status: 0 when the page's
// result has status 'ok'; 1 when it has another status (still printed);
// 2 on any other error (launch, navigation, no result in time), 3 when the
// overall watchdog fires.  Every step is bounded by a timeout and the
// browser is always closed.
//
//   node browser_chat.mjs --url 'http://127.0.0.1:PORT/browser_chat.html?...'
//        [--timeout 30000] [--chromium /usr/bin/chromium]
// (or BROWSER_CHAT_URL, BROWSER_CHAT_TIMEOUT, XMPPD_IT_CHROMIUM in the environment)
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const playwrightVersion = require("playwright-core/package.json").version;
const stropheVersion = require("strophe.js/package.json").version;

function args() {
  const a = {
    url: process.env.BROWSER_CHAT_URL || null,
    timeout: Number(process.env.BROWSER_CHAT_TIMEOUT || 30000),
    chromium: process.env.XMPPD_IT_CHROMIUM || "/usr/bin/chromium",
  };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    const k = v[i].replace(/^--/, "");
    if (!(k in a) || i + 1 >= v.length) throw new Error(`bad argument ${v[i]}`);
    a[k] = k === "timeout" ? Number(v[i + 1]) : v[i + 1];
  }
  if (!a.url) throw new Error("--url (or BROWSER_CHAT_URL) needed");
  if (!(a.timeout > 0)) throw new Error("bad --timeout");
  return a;
}

const t0 = Date.now();
function err(line) {
  process.stderr.write(`[browser_chat ${Date.now() - t0}ms] ${line}\n`);
}

// Resolves to p's value, or rejects after ms with what was being waited for.
function bounded(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms}ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function main() {
  const opt = args();
  // the whole run: launch, load, the page's own timeout, close
  const watchdog = setTimeout(() => {
    err(`watchdog: still running after ${opt.timeout + 45000}ms, exiting`);
    process.exit(3);   // playwright kills the browser it launched on exit
  }, opt.timeout + 45000);
  watchdog.unref();

  let browser = null;
  let code = 2;
  try {
    err(`launching ${opt.chromium} (playwright-core ${playwrightVersion}, strophe.js ${stropheVersion})`);
    browser = await chromium.launch({
      executablePath: opt.chromium,
      args: ["--no-sandbox"],
      headless: true,
      timeout: 30000,
    });
    err(`browser ${browser.version()}`);
    const page = await browser.newPage();
    page.setDefaultTimeout(15000);
    page.on("console", (m) => err(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => err(`page error: ${e && e.stack ? e.stack : e}`));
    page.on("requestfailed", (r) => err(`request failed: ${r.url()}: ${r.failure() && r.failure().errorText}`));
    page.on("response", (r) => { if (r.status() >= 400) err(`HTTP ${r.status()} for ${r.url()}`); });
    // every WebSocket's frames as the browser's network stack saw them
    // (the page stops listening once it has closed its side: the server's
    // last messages are seen only here)
    const websockets = [];
    const wsClosed = [];
    page.on("websocket", (ws) => {
      const rec = { url: ws.url(), frames: [], closed: false };
      websockets.push(rec);
      err(`websocket ${ws.url()}`);
      ws.on("framesent", (f) => rec.frames.push({ dir: "out", data: String(f.payload) }));
      ws.on("framereceived", (f) => rec.frames.push({ dir: "in", data: String(f.payload) }));
      ws.on("socketerror", (e) => err(`websocket error: ${e}`));
      wsClosed.push(new Promise((resolve) => ws.on("close", () => {
        rec.closed = true;
        err("websocket closed");
        resolve();
      })));
    });
    page.on("crash", () => err("page crashed"));

    const resp = await page.goto(opt.url, { waitUntil: "load", timeout: 15000 });
    if (!resp || !resp.ok()) throw new Error(`page load: HTTP ${resp ? resp.status() : "no response"}`);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: opt.timeout });
    const result = await page.evaluate(() => window.result);
    try {
      await bounded(Promise.all(wsClosed), 5000, "the page's WebSockets to close");
    } catch (e) {
      err(String(e));
    }
    result.websockets = websockets;
    result.browser = browser.version();
    result.playwright = playwrightVersion;
    result.strophe = stropheVersion;
    process.stdout.write(JSON.stringify(result) + "\n");
    if (result.status !== "ok") {
      err(`page result: ${result.status}: ${result.detail}`);
      code = 1;
    } else {
      code = 0;
    }
  } catch (e) {
    err(`error: ${e && e.stack ? e.stack : e}`);
    code = 2;
  } finally {
    if (browser) {
      try {
        await bounded(browser.close(), 10000, "browser.close()");
      } catch (e) {
        err(`error closing the browser: ${e}`);
        code = code || 2;
      }
    }
  }
  clearTimeout(watchdog);
  return code;
}

main().then(
  (code) => process.exit(code),
  (e) => { err(`error: ${e && e.stack ? e.stack : e}`); process.exit(2); },
);
