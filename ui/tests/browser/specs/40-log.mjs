// The LogView: a 10k lines/s feed without freezing, search (plain and regex),
// following the tail and stopping when the person scrolls up, a 1M-line log.
import assert from "node:assert/strict";
import { FIND_LOG_SCROLLER, openTask, scrollLogTo, sleep, step, test, until, visibleLogLines, visibleSteps } from "../lib.mjs";

/** The longest gap between animation frames (ms) that the page accepts while the feed runs. */
const MAX_FRAME_GAP_MS = 500;
/** The same while a 1M-line log (66 MiB) arrives as fast as the channel carries it: more generous still. */
const MAX_LOAD_FRAME_GAP_MS = 1000;

/** Starts a requestAnimationFrame loop in the page that records the longest gap between frames. */
function startFrameWatch(app) {
  return app.page.evaluate(() => {
    const w = window;
    w.__frames = { max: 0, count: 0, over100: 0, stop: false, longTasks: 0, longestTask: 0 };
    let last = performance.now();
    const loop = () => {
      const t = performance.now();
      const gap = t - last;
      last = t;
      w.__frames.count += 1;
      if (gap > w.__frames.max) w.__frames.max = gap;
      if (gap > 100) w.__frames.over100 += 1;
      if (!w.__frames.stop) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    try {
      const po = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          w.__frames.longTasks += 1;
          w.__frames.longestTask = Math.max(w.__frames.longestTask, e.duration);
        }
      });
      po.observe({ type: "longtask" });
      w.__frames.po = po;
    } catch {
      // No long-task timing: the frame gaps say enough.
    }
  });
}

function stopFrameWatch(app) {
  return app.page.evaluate(() => {
    const f = window.__frames;
    f.stop = true;
    f.po?.disconnect();
    return { max: Math.round(f.max), count: f.count, over100: f.over100, longTasks: f.longTasks, longestTask: Math.round(f.longestTask) };
  });
}

async function openRunningLog(t) {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await openTask(app, ids.running);
  await until(async () => (await visibleSteps(app)).includes(400), "the first 400 lines with the last on screen");
  return { app, ids };
}

test("log: a 10k lines/s feed (1000 lines every 100 ms for 5 s) keeps the page responsive and every line arrives", async (t) => {
  const { app } = await openRunningLog(t);
  const batches = 50;
  const per = 1000;
  await startFrameWatch(app);
  const t0 = Date.now();
  const sent = await app.mock((m, o) => m.feed(o), { lines: per, every: 100, batches });
  const fed = Date.now() - t0;
  const total = 400 + sent;
  // The tail follows: the last line shows soon after the last batch.
  const t1 = Date.now();
  await until(async () => (await visibleSteps(app)).includes(total), `the last line (${step(total)}) on screen`, 10_000);
  const tail = Date.now() - t1;
  const frames = await stopFrameWatch(app);
  const cost = await app.mock((m) => m.logCost());
  t.figure(
    `feed: the mock made the text in ${cost.makeMs} ms; LogView's channel handler took ${cost.deliverMs} ms for ${cost.batches} batches ` +
      `(${(cost.deliverMs / Math.max(1, cost.batches)).toFixed(2)} ms each)`,
  );
  t.figure(
    `feed: ${sent} lines in ${fed} ms (${Math.round((sent / fed) * 1000)} lines/s); longest frame gap ${frames.max} ms over ${frames.count} frames ` +
      `(${frames.over100} gaps > 100 ms; ${frames.longTasks} long tasks, longest ${frames.longestTask} ms); last line shown ${tail} ms after the feed ended`,
  );
  assert.ok(frames.max < MAX_FRAME_GAP_MS, `the longest frame gap was ${frames.max} ms (limit ${MAX_FRAME_GAP_MS} ms)`);
  assert.ok(frames.count > 20, `frames kept coming (${frames.count})`);
  // Only a window of the lines is in the DOM.
  const inDom = await app.count("log-line");
  assert.ok(inDom > 0 && inDom < 2000, `only visible lines are in the DOM (${inDom})`);
  // Every line is kept: the top is line 1.
  await scrollLogTo(app, 0);
  await until(async () => (await visibleSteps(app)).includes(1), "line 1 at the top after the feed");
  await app.id("log-jump").waitFor();
});

test("log: search highlights matches and counts them; next/prev move; regex mode; an invalid regex says so", async (t) => {
  const { app } = await openRunningLog(t);
  const search = app.id("log-search");
  const marks = app.page.locator('[data-testid="log-view"] mark.match');
  const current = app.page.locator('[data-testid="log-view"] mark.match.current');
  const count = app.id("log-match-count");
  // Lines 97, 194, 291 and 388 of the 400 say "epoch_001.pt" (once each).
  await search.fill("epoch_00");
  await until(async () => /(^|\D)4(\D|$)/.test(await count.innerText()), "log-match-count to count 4 matches");
  await until(async () => (await marks.count()) > 0, "mark.match elements");
  const texts = await marks.allInnerTexts();
  assert.ok(texts.every((m) => m === "epoch_00"), `every mark is a match: ${texts}`);
  // Next: a current match, "N of 4", on screen.
  await app.id("log-next").click();
  await until(async () => /^\d+ of 4$/.test((await count.innerText()).trim()), "log-match-count to say N of 4 after log-next");
  await until(async () => (await current.count()) === 1, "one mark.match.current");
  const first = (await count.innerText()).trim();
  await app.id("log-next").click();
  await until(async () => (await count.innerText()).trim() !== first, "log-next to move the current match");
  const second = (await count.innerText()).trim();
  await app.id("log-prev").click();
  await until(async () => (await count.innerText()).trim() === first, "log-prev to move back");
  await search.press("Enter");
  await until(async () => (await count.innerText()).trim() === second, "Enter to go to the next match");
  await search.press("Shift+Enter");
  await until(async () => (await count.innerText()).trim() === first, "Shift+Enter to go to the previous match");
  await current.waitFor();
  const onScreen = await app.page.evaluate(`(() => {
    const s = ${FIND_LOG_SCROLLER} ?? document.querySelector('[data-testid="log-view"]');
    const m = document.querySelector('[data-testid="log-view"] mark.match.current');
    const a = s.getBoundingClientRect(), b = m.getBoundingClientRect();
    return b.bottom > a.top && b.top < a.bottom;
  })()`);
  assert.ok(onScreen, "the current match is scrolled into view");

  // A regex: literal in plain mode (no match), a pattern in regex mode (lines 100–199).
  await search.fill("step 00001\\d\\d");
  await sleep(300);
  assert.equal(await marks.count(), 0, "no match for the pattern as plain text");
  await app.id("log-regex").check();
  await until(async () => /(^|\D)100(\D|$)/.test(await count.innerText()), "log-match-count to count 100 matches in regex mode");
  // The matches are above the view: log-next brings the first into view.
  await app.id("log-next").click();
  await until(async () => /^\d+ of 100$/.test((await count.innerText()).trim()), "N of 100 after log-next");
  await until(async () => (await marks.count()) > 0, "regex marks on screen");
  const rtexts = await marks.allInnerTexts();
  assert.ok(rtexts.every((m) => /^step 00001\d\d$/.test(m)), `regex marks: ${rtexts.slice(0, 5)}`);
  await search.fill("step (");
  await app.id("log-search-error").waitFor();
  await until(async () => (await marks.count()) === 0, "no marks for an invalid regex", 2000);
  await search.fill("");
  await until(async () => (await marks.count()) === 0, "no marks with an empty search");
  assert.equal(await app.count("log-search-error"), 0, "the error goes with the search");
});

test("log: timestamps gutter, wrap toggle, ANSI colours as classes, download (save_log) says where", async (t) => {
  const { app, ids } = await openRunningLog(t);
  const visibleText = async () => (await visibleLogLines(app)).join("\n");
  assert.ok(!/\d\d:\d\d:\d\d\.\d{3}/.test(await visibleText()), "no times before log-timestamps");
  await app.id("log-timestamps").click();
  await until(async () => /\d\d:\d\d:\d\d\.\d{3}/.test(await app.id("log-view").innerText()), "HH:MM:SS.mmm times in the gutter");
  await app.id("log-timestamps").click();
  await until(async () => !/\d\d:\d\d:\d\d\.\d{3}/.test(await app.id("log-view").innerText()), "times hidden again");
  // ANSI colours: classed spans, no escape characters in the text.
  const coloured = await app.page.locator('[data-testid="log-view"] [data-testid="log-line"] span[class*="ansi"]').count();
  assert.ok(coloured > 0, "ANSI colours become classed spans");
  assert.ok(!(await visibleText()).includes("\x1b"), "no escape characters shown");
  await app.id("log-wrap").click();
  await app.id("log-wrap").click();
  await app.id("log-download").click();
  await until(async () => (await app.callsOf("save_log")).length === 1, "save_log");
  assert.deepEqual((await app.callsOf("save_log"))[0].args, { id: ids.running });
  await until(async () => /Saved to \/home\/ana\/Downloads\/train-resnet50\.log/.test(await app.id("log-view").innerText()), "Saved to <path>");
});

test("log: scrolling up stops following (log-jump; new lines do not move the view); log-jump follows again", async (t) => {
  const { app } = await openRunningLog(t);
  assert.equal(await app.count("log-jump"), 0, "no log-jump while following");
  const box = await app.id("log-view").boundingBox();
  await app.page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.7);
  await app.page.mouse.wheel(0, -1500);
  await app.id("log-jump").waitFor({ timeout: 3000 });
  const before = await until(async () => {
    const s = await visibleSteps(app);
    return s.length > 0 ? s : null;
  }, "log lines on screen after scrolling up with the mouse wheel (the view stays blank)", 2000);
  const top = await app.page.evaluate(`(${FIND_LOG_SCROLLER}).scrollTop`);
  assert.ok(before.length > 0 && !before.includes(400), `scrolled up, away from the tail: ${before}`);
  const sent = await app.mock((m, o) => m.feed(o), { lines: 200, every: 100, batches: 10 });
  await sleep(300);
  assert.deepEqual(await visibleSteps(app), before, "the same lines stay on screen while new ones arrive");
  assert.equal(await app.page.evaluate(`(${FIND_LOG_SCROLLER}).scrollTop`), top, "scrollTop stays");
  await app.id("log-jump").click();
  const total = 400 + sent;
  await until(async () => (await visibleSteps(app)).includes(total), `the latest line (${step(total)}) after log-jump`);
  await app.page.waitForFunction(() => !document.querySelector('[data-testid="log-jump"]'), null, { timeout: 3000 });
  // Following again: the next lines come into view.
  const more = await app.mock((m, o) => m.feed(o), { lines: 50, every: 50, batches: 2 });
  await until(async () => (await visibleSteps(app)).includes(total + more), "new lines follow after log-jump");
});

test("log: a 1,000,000-line log loads, stays virtualized, and scrolling to the middle shows the middle", async (t) => {
  const app = await t.open({ query: { log: "1m" } });
  const ids = await app.mock((m) => m.ids);
  await startFrameWatch(app);
  const t0 = Date.now();
  await openTask(app, ids.succeeded);
  await app.id("log-done").waitFor({ timeout: 90_000 });
  await until(async () => (await visibleSteps(app)).includes(1_000_000), "the last line (step 1000000) on screen", 30_000);
  const loaded = Date.now() - t0;
  const frames = await stopFrameWatch(app);
  t.figure(`while loading 1M lines: longest frame gap ${frames.max} ms over ${frames.count} frames (${frames.over100} gaps > 100 ms)`);
  const bytes = await app.mock((m, id) => m.logBytes(id), ids.succeeded);
  const cost = await app.mock((m) => m.logCost());
  t.figure(`1M lines (${(bytes / 2 ** 20).toFixed(1)} MiB of text in batches of about 512 KiB): loaded and the tail shown in ${loaded} ms ` +
    `(of which the mock spent ${cost.makeMs} ms making the text and LogView's channel handler ${cost.deliverMs} ms on ${cost.batches} batches)`);
  const inDom = await app.count("log-line");
  assert.ok(inDom < 2000, `only a window of lines is in the DOM (${inDom})`);
  assert.ok(frames.max < MAX_LOAD_FRAME_GAP_MS, `the longest frame gap while loading was ${frames.max} ms (limit ${MAX_LOAD_FRAME_GAP_MS} ms)`);
  const heap = await app.page.evaluate(() => (performance.memory ? Math.round(performance.memory.usedJSHeapSize / 2 ** 20) : null));
  if (heap !== null) t.figure(`JS heap with the 1M-line log: ${heap} MiB`);

  await scrollLogTo(app, 0.5);
  const middle = await until(async () => {
    const s = await visibleSteps(app);
    return s.length > 0 ? s : null;
  }, "lines on screen at the middle");
  const mid = middle[Math.floor(middle.length / 2)];
  t.figure(`at scrollTop 50%: lines ${middle[0]}–${middle.at(-1)}`);
  assert.ok(mid > 450_000 && mid < 550_000, `the middle of the log shows lines near 500000, not ${middle[0]}–${middle.at(-1)}`);
  await app.id("log-jump").waitFor();
  await scrollLogTo(app, 0);
  await until(async () => (await visibleSteps(app)).includes(1), "line 1 at the top");
  await scrollLogTo(app, 0.25);
  await until(async () => {
    const s = await visibleSteps(app);
    return s.length > 0 && s[0] > 200_000 && s[0] < 300_000;
  }, "lines near 250000 at a quarter");
  const text = (await visibleLogLines(app)).join("\n");
  assert.ok(!text.includes("\x1b"), "ANSI escapes are rendered, not shown");
}, { timeout: 180_000 });
