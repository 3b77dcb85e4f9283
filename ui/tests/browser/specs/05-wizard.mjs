// The wizard: when the hub removed this computer's node (or replaced its
// token), it comes back with the hub's sentence as the reason, apart from
// the errors of the person's own tries.
import assert from "node:assert/strict";
import { test } from "../lib.mjs";

test("wizard: a node removed at the hub brings the wizard back with the hub's sentence", async (t) => {
  const app = await t.open({ query: { setup: "removed" }, waitFor: "wizard-server" });
  const reason = await app.id("wizard-reason").innerText();
  assert.match(reason, /The hub stopped this computer\./);
  assert.match(reason, /node lab-rtx-01 was removed from the hub at 2026-12-06 14:03 UTC/);
  assert.equal(await app.count("wizard-error"), 0, "the reason is not shown twice as an error");
  assert.equal(await app.id("wizard-token").inputValue(), "", "a new token is asked for");
  await t.shot(app, "wizard-removed");
});

test("wizard: set up, there is no reason to show", async (t) => {
  const app = await t.open();
  assert.equal(await app.count("wizard-reason"), 0);
});
