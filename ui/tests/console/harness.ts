// Mounts the console's Tasks, Task detail and Submit pages under a minimal
// hash router (the real shell is Console.svelte), for tests/console/tasks.mjs.
import "../../src/shared/locale";
import { mount } from "svelte";
import "../../src/app.css";
import Harness from "./Harness.svelte";

const target = document.getElementById("app");
if (!target) throw new Error("harness.html has no #app");
mount(Harness, { target });
