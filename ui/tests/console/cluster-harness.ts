// The Cluster page alone, as the console mounts it, for cluster.mjs: the
// console's CSS, the event stream opened as after sign-in, the page in a
// scrolling main like the shell's.
import "../../src/shared/locale";
import { mount } from "svelte";
import Cluster from "../../src/console/pages/Cluster.svelte";
import { session } from "../../src/console/hub";
import { startLive } from "../../src/console/live.svelte";
import "../../src/app.css";
import "./cluster-harness.css";

const target = document.getElementById("app");
if (!target) throw new Error("cluster.html has no #app");
// The CSRF value comes with the session, as the shell reads it at start.
await session();
startLive();
const main = document.createElement("main");
main.className = "harness-main";
target.append(main);
mount(Cluster, { target: main });
(window as unknown as { __mounted: boolean }).__mounted = true;
