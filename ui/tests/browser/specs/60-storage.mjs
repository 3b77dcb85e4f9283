// Storage: the tree (expand a folder), sorting, open and delete with a
// confirmation, virtualization with 100,000 entries.
import assert from "node:assert/strict";
import { choose, test, until } from "../lib.mjs";

const topLevel = (app) =>
  app.id("storage-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-path")).filter((p) => p !== null && !p.includes("/")));
const row = (app, path) => app.page.locator(`[data-testid="storage-row"][data-path="${path}"]`);

test("storage: rows with size, date and count; folders expand; sort by size, date, name; disk header", async (t) => {
  const app = await t.open();
  const ids = await app.mock((m) => m.ids);
  await app.go("storage");
  await until(async () => (await topLevel(app)).length === 5, "five top-level rows");
  assert.deepEqual(await topLevel(app), ["datasets", "cache", "tasks", ".gantry", "README.txt"], "largest first by default");
  assert.equal(await row(app, "datasets").getAttribute("data-dir"), "true");
  assert.equal(await row(app, "README.txt").getAttribute("data-dir"), "false");
  const datasets = await row(app, "datasets").innerText();
  assert.match(datasets, /154(\.\d)?\s*GB|144(\.\d)?\s*GiB|GB|GiB/, "a human size");
  assert.match(datasets, /\b2\b/, "the folder's file count");
  const disk = await app.id("storage-disk").innerText();
  assert.match(disk, /free/i, "the disk's free space");
  assert.match(await app.id("screen-storage").innerText(), /\/home\/ana\/\.local\/share\/gantry/, "the storage folder's path");

  // Sorting.
  const sort = app.id("storage-sort");
  await choose(sort, "date");
  await until(async () => (await topLevel(app))[0] === "tasks", "newest first: tasks");
  assert.deepEqual(await topLevel(app), ["tasks", ".gantry", "cache", "datasets", "README.txt"], "newest first");
  await choose(sort, "name");
  await until(async () => (await topLevel(app))[0] === ".gantry", "by name");
  const byName = await topLevel(app);
  // By name: plain or case-folded order, folders mixed in or first.
  const orders = [
    [".gantry", "README.txt", "cache", "datasets", "tasks"],
    [".gantry", "cache", "datasets", "README.txt", "tasks"],
    [".gantry", "cache", "datasets", "tasks", "README.txt"],
  ];
  assert.ok(orders.some((o) => JSON.stringify(o) === JSON.stringify(byName)), `by name: ${byName}`);
  await choose(sort, "size");
  await until(async () => (await topLevel(app))[0] === "datasets", "by size again");

  // Expanding a folder loads it, indented under it.
  await row(app, "tasks").getByText("tasks", { exact: true }).first().click();
  await until(async () => (await app.page.locator('[data-testid="storage-row"][data-path^="tasks/"]').count()) === 5, "the five task folders under tasks");
  assert.ok((await app.callsOf("storage_list")).some((c) => c.args.path === "tasks"), "storage_list(tasks)");
  const paths = await app.id("storage-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-path")));
  const at = paths.indexOf("tasks");
  assert.ok(paths.slice(at + 1, at + 6).every((p) => p.startsWith("tasks/")), `children follow their folder: ${paths}`);
  const indent = async (p) =>
    row(app, p).evaluate((el) => {
      const name = [...el.querySelectorAll("*")].find((c) => c.children.length === 0 && c.textContent?.trim() === el.getAttribute("data-path")?.split("/").pop());
      return (name ?? el).getBoundingClientRect().left;
    });
  assert.ok((await indent(`tasks/${ids.succeeded}`)) > (await indent("tasks")), "children are indented");
  await t.shot(app, "storage");

  // Open a folder in the file manager.
  await row(app, "cache").hover();
  await row(app, "cache").getByTestId("storage-open").click();
  await until(async () => (await app.callsOf("storage_open")).length === 1, "storage_open");
  assert.deepEqual((await app.callsOf("storage_open"))[0].args, { path: "cache" });
});

test("storage: delete asks first (confirm-delete names the path); no keeps it; yes calls storage_delete and reloads", async (t) => {
  const app = await t.open();
  await app.go("storage");
  await row(app, "README.txt").waitFor();
  // The agent's own folder cannot be deleted.
  await row(app, ".gantry").hover();
  assert.equal(await row(app, ".gantry").getByTestId("storage-delete").count(), 0, "no delete for a non-deletable entry");

  await row(app, "README.txt").hover();
  await row(app, "README.txt").getByTestId("storage-delete").click();
  const dialog = app.id("confirm-delete");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /README\.txt/, "the dialog names the path");
  assert.match(await dialog.innerText(), /1(\.\d+)?\s*(kB|KB|KiB)|1,?204\s*(B|bytes)/, "the dialog names the size");
  await app.id("confirm-delete-no").click();
  await dialog.waitFor({ state: "detached" });
  assert.equal((await app.callsOf("storage_delete")).length, 0, "no delete after no");

  await row(app, "README.txt").hover();
  await row(app, "README.txt").getByTestId("storage-delete").click();
  await app.id("confirm-delete-yes").click();
  await until(async () => (await app.callsOf("storage_delete")).length === 1, "storage_delete");
  assert.deepEqual((await app.callsOf("storage_delete"))[0].args, { path: "README.txt" });
  await row(app, "README.txt").waitFor({ state: "detached" });
  await until(async () => (await topLevel(app)).length === 4, "four top-level rows after the delete");

  // A failing delete shows its error and keeps the row.
  await app.mock((m) => m.failNext("storage_delete", "Permission denied: cache/pip"));
  await row(app, "cache").hover();
  await row(app, "cache").getByTestId("storage-delete").click();
  await app.id("confirm-delete-yes").click();
  await until(async () => (await app.id("screen-storage").innerText()).includes("Permission denied"), "the delete's error shown");
  assert.equal(await row(app, "cache").count(), 1, "the row stays");
});

test("storage: 100,000 entries render only a window of rows and scroll", async (t) => {
  const app = await t.open({ query: { storage: "big" } });
  const t0 = Date.now();
  await app.go("storage");
  await app.id("storage-row").first().waitFor({ timeout: 20_000 });
  const shown = Date.now() - t0;
  const n = await app.count("storage-row");
  t.figure(`100k entries: first rows in ${shown} ms; ${n} storage-row elements in the DOM`);
  assert.ok(n > 0 && n < 500, `a window of rows (${n})`);
  const first = await app.id("storage-row").first().getAttribute("data-path");
  // Scroll the list to the end: other rows, still a window.
  await app.page.evaluate(() => {
    const r = document.querySelector('[data-testid="storage-row"]');
    let el = r?.parentElement ?? null;
    while (el && !(el.scrollHeight > el.clientHeight + 1 && /auto|scroll/.test(getComputedStyle(el).overflowY))) el = el.parentElement;
    if (!el) throw new Error("no scrollable list around the storage rows");
    el.scrollTop = el.scrollHeight;
    el.dispatchEvent(new Event("scroll"));
  });
  await until(async () => (await app.id("storage-row").first().getAttribute("data-path")) !== first, "other rows after scrolling to the end");
  assert.ok((await app.count("storage-row")) < 500, "still a window at the end");
  await choose(app.id("storage-sort"), "name");
  await until(async () => {
    const p = await app.id("storage-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-path")));
    return p.includes("frame_099999.exr") || p.includes("frame_000000.exr");
  }, "sorted by name, the first or last frame on screen");
});

test("storage: the disk budget lists every kind, checkpoints labelled and explained", async (t) => {
  const app = await t.open();
  await app.go("storage");
  const checkpoints = app.id("disk-used-checkpoints");
  await checkpoints.waitFor();
  assert.match(await checkpoints.innerText(), /^Checkpoints\s/, "labelled, not its raw name");
  assert.match(await checkpoints.getAttribute("title"), /released task's saved state/, "its hint says what it is");
  assert.equal(await checkpoints.getAttribute("data-bytes"), String(3e9));
  const swatch = await checkpoints.locator(".swatch").evaluate((el) => getComputedStyle(el).backgroundColor);
  const others = [];
  for (const kind of ["image", "blob", "result", "task_folder"]) {
    others.push(await app.id(`disk-used-${kind}`).locator(".swatch").evaluate((el) => getComputedStyle(el).backgroundColor));
  }
  // The grey a kind without a colour of its own falls back to.
  const grey = await app.page.evaluate(() => {
    const probe = document.createElement("span");
    probe.style.background = "var(--faint)";
    document.body.append(probe);
    const colour = getComputedStyle(probe).backgroundColor;
    probe.remove();
    return colour;
  });
  assert.ok(![...others, grey].includes(swatch), `its own colour: ${swatch} (others ${others}, grey ${grey})`);
  for (const kind of ["image", "blob", "result", "task_folder"]) {
    assert.doesNotMatch(await app.id(`disk-used-${kind}`).innerText(), new RegExp(`^${kind}\\b`), `${kind} labelled`);
  }
  assert.match(await app.id("disk-next").innerText(), /Checkpoints\s+t-0188/, "a checkpoint in what would go next, labelled");
});
