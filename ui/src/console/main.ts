// The hub's web console: served by `gantry hub serve` at `/`.
import "../shared/locale";
import { mount } from "svelte";
import Console from "./Console.svelte";
import "../app.css";

const target = document.getElementById("app");
if (!target) throw new Error("console.html has no #app");

export default mount(Console, { target });
