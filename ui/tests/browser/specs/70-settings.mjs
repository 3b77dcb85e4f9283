// Settings: the node's fields (locked ones read-only), save, notifications,
// launch at login, the token, the storage folder.
import assert from "node:assert/strict";
import { setField, test, until } from "../lib.mjs";

test("settings: fields filled from node_settings; the locked field is read-only; save sends the edited values", async (t) => {
  const app = await t.open();
  await app.go("settings");
  const val = (id) => app.id(id).inputValue();
  await until(async () => (await val("settings-name")) === "lab-rtx-01", "settings-name filled");
  const labels = await val("settings-labels");
  for (const l of ["gpu=rtx4090", "zone=lab-2", "fast-disk"]) assert.ok(labels.includes(l), `labels show ${l}: ${labels}`);
  assert.equal(await val("settings-max-tasks"), "2");
  assert.equal(await val("settings-host-dir"), "/home/ana/.local/share/gantry");
  assert.equal(await app.id("settings-local-storage").isChecked(), false);
  assert.equal(await app.id("settings-delete-on-finish").isChecked(), false);
  assert.equal(await app.id("settings-delete-on-failure").isChecked(), false);
  // host_dir is locked (set by the environment): read-only, with the note.
  assert.ok(!(await app.id("settings-host-dir").isEditable()), "the locked settings-host-dir is read-only");
  assert.match(await app.id("screen-settings").innerText(), /set by the environment or agent\.toml/i, "the locked field's note");
  assert.ok(await app.id("settings-labels").isEditable(), "an unlocked field is editable");
  // With a hub elsewhere the hub names this computer: read-only, saying who renames it.
  assert.ok(!(await app.id("settings-name").isEditable()), "the hub's name is read-only");
  assert.match(await app.id("settings-name-note").innerText(), /its admin renames it with gantry node rename/);
  // Remote mode: the server shows; the token never does.
  assert.match(await app.id("screen-settings").innerText(), /hub\.gantry\.example\.org/);
  await t.shot(app, "settings");

  // Edit and save.
  const multiLine = (await app.id("settings-labels").evaluate((e) => e.tagName)) === "TEXTAREA";
  await setField(app.id("settings-labels"), multiLine ? "gpu=rtx4090\nzone=lab-3\n" : "gpu=rtx4090, zone=lab-3");
  await setField(app.id("settings-max-tasks"), "3");
  await setField(app.id("settings-local-storage"), true);
  await setField(app.id("settings-delete-on-failure"), true);
  await app.id("settings-save").click();
  await until(async () => (await app.callsOf("save_node_settings")).length === 1, "save_node_settings");
  assert.deepEqual((await app.callsOf("save_node_settings"))[0].args, {
    change: {
      name: "lab-rtx-01",
      labels: ["gpu=rtx4090", "zone=lab-3"],
      max_tasks: 3,
      host_dir: "/home/ana/.local/share/gantry",
      with_local_storage: true,
      delete_task_dir_on_finish: false,
      delete_task_dir_on_failure: true,
    },
  });
  await app.id("settings-saved").waitFor();

  // A refused save shows the error.
  await app.mock((m) => m.failNext("save_node_settings", "The agent could not restart: storage folder in use"));
  await setField(app.id("settings-max-tasks"), "4");
  await app.id("settings-save").click();
  await app.id("settings-error").waitFor();
  assert.match(await app.id("settings-error").innerText(), /storage folder in use/);

  // Fewer than one task at once is not sent as is.
  await setField(app.id("settings-max-tasks"), "0");
  const calls = (await app.callsOf("save_node_settings")).length;
  await app.id("settings-save").click();
  await new Promise((r) => setTimeout(r, 300));
  const sent = (await app.callsOf("save_node_settings")).slice(calls);
  assert.ok(sent.every((c) => c.args.change.max_tasks >= 1), `max_tasks 0 was sent: ${JSON.stringify(sent)}`);
});

test("settings: notifications and launch at login save at once; replace token; open storage", async (t) => {
  const app = await t.open();
  await app.go("settings");
  await until(async () => (await app.id("settings-notify-canceled").count()) === 1, "settings-notify-canceled");
  await until(async () => (await app.id("settings-notify-succeeded").isChecked()) === true, "notifications filled");
  assert.equal(await app.id("settings-notify-canceled").isChecked(), false);
  await app.id("settings-notify-canceled").check();
  await until(async () => (await app.callsOf("set_notifications")).length === 1, "set_notifications");
  assert.deepEqual((await app.callsOf("set_notifications"))[0].args, { notifications: { succeeded: true, failed: true, canceled: true } });
  assert.equal(await app.id("settings-launch-at-login").isChecked(), true);
  await app.id("settings-launch-at-login").uncheck();
  await until(async () => (await app.callsOf("set_launch_at_login")).length === 1, "set_launch_at_login");
  assert.deepEqual((await app.callsOf("set_launch_at_login"))[0].args, { enabled: false });

  // The token: a password field, never filled in.
  const token = app.id("settings-token");
  assert.equal(await token.getAttribute("type"), "password");
  assert.equal(await token.inputValue(), "");
  await token.fill("gnt_3f9c2a1b7d4e8a1d0e6f");
  await app.id("settings-replace-token").click();
  await until(async () => (await app.callsOf("replace_token")).length === 1, "replace_token");
  assert.deepEqual((await app.callsOf("replace_token"))[0].args, { token: "gnt_3f9c2a1b7d4e8a1d0e6f" });

  await app.id("open-storage").click();
  await until(async () => (await app.callsOf("open_storage")).length === 1, "open_storage");
});

test("settings: the CA file is kept, and a relative path is said", async (t) => {
  const app = await t.open();
  await app.go("settings");
  const caFile = app.id("settings-ca-file");
  await until(async () => (await caFile.count()) === 1, "settings-ca-file");
  assert.equal(await caFile.inputValue(), "");
  assert.equal(await app.id("settings-save-ca-file").isDisabled(), true, "nothing to save yet");
  await caFile.fill("team-ca.pem");
  await app.id("settings-save-ca-file").click();
  await until(async () => (await app.count("settings-ca-file-error")) === 1, "the error");
  assert.match(await app.id("settings-ca-file-error").innerText(), /full path/);
  await caFile.fill("/etc/gantry/team-ca.pem");
  await app.id("settings-save-ca-file").click();
  await until(async () => (await app.count("settings-ca-file-saved")) === 1, "saved");
  const sent = await app.callsOf("set_ca_file");
  assert.deepEqual(sent[sent.length - 1].args, { caFile: "/etc/gantry/team-ca.pem" });
});

test("settings: in local mode there is no token field, and the name renames the node", async (t) => {
  const app = await t.open({ query: { mode: "local" } });
  await app.go("settings");
  await until(async () => (await app.id("settings-name").inputValue()) === "lab-rtx-01", "settings filled");
  assert.equal(await app.count("settings-token"), 0, "no token field in local mode");
  assert.equal(await app.count("settings-replace-token"), 0);
  assert.equal(await app.count("settings-name-note"), 0, "no note: the name is this computer's to change");
  assert.ok(await app.id("settings-name").isEditable());
  assert.match(await app.id("screen-settings").innerText(), /renames this computer's node in its local hub/);
  await setField(app.id("settings-name"), "lab-rtx-02");
  await app.id("settings-save").click();
  await until(async () => (await app.callsOf("save_node_settings")).length === 1, "save_node_settings");
  assert.equal((await app.callsOf("save_node_settings"))[0].args.change.name, "lab-rtx-02");
});
