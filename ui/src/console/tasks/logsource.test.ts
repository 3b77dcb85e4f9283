import { describe, expect, it } from "vitest";
import type { LogPiece } from "../../shared/logsource";
import { HubError, type TaskState } from "../hub";
import { LogDecoder, TAIL_BYTES, followHubLog, type LogDoor } from "./logsource";

const bytes = (...b: number[]) => new Uint8Array(b);
const utf8 = (s: string) => new TextEncoder().encode(s);

describe("LogDecoder", () => {
  it("joins a character cut across pieces and counts byte offsets", () => {
    const d = new LogDecoder(10);
    const e = utf8("é€😀\n"); // 2 + 3 + 4 + 1 bytes
    const pieces = [e.subarray(0, 1), e.subarray(1, 3), e.subarray(3, 7), e.subarray(7)].map((p) => d.take(p));
    expect(pieces.map((p) => p.text).join("")).toBe("é€😀\n");
    expect(pieces.map((p) => p.offset)).toEqual([11, 13, 17, 20]);
    expect(pieces[0].text).toBe("");
    expect(d.finish()).toEqual({ text: "", offset: 20, done: true });
  });

  it("replaces invalid bytes and a character cut off at the end", () => {
    const d = new LogDecoder(0);
    expect(d.take(bytes(0x61, 0xff, 0x62)).text).toBe("a\uFFFDb");
    expect(d.take(bytes(0xe2, 0x82)).text).toBe("");
    expect(d.finish()).toEqual({ text: "\uFFFD", offset: 5, done: true });
  });
});

/** A hub that serves `log` in the pieces its script says, its stream breaking where told. */
function fakeHub(log: Uint8Array, script: { cuts: number[][]; states: TaskState[] }) {
  const calls: number[] = [];
  let stream = 0;
  let shown = 0;
  const door: LogDoor = {
    async showTask() {
      const state = script.states[Math.min(shown, script.states.length - 1)];
      shown++;
      return { state, log_size: log.length };
    },
    async followLog(_id, offset, onBytes) {
      calls.push(offset);
      const cuts = script.cuts[stream++] ?? [];
      let at = offset;
      for (const end of cuts) {
        onBytes(log.subarray(at, end));
        at = end;
      }
      if (stream === 2 && script.cuts.length > 3) throw new TypeError("Failed to fetch");
    },
    sleep: async () => {},
  };
  return { door, calls };
}

async function run(door: LogDoor, id = "t1") {
  const pieces: LogPiece[] = [];
  const errors: string[] = [];
  await new Promise<void>((resolve) => {
    followHubLog(
      id,
      (p) => {
        pieces.push(p);
        if (p.done) resolve();
      },
      (m) => {
        errors.push(m);
        resolve();
      },
      (e) => (e as Error).message,
      door,
    );
  });
  return { pieces, errors };
}

describe("followHubLog", () => {
  it("reconnects from the last byte while the task runs, and ends done when it has finished", async () => {
    const log = utf8("one\ntwo €\nthree\n");
    // Stream 1 breaks inside "€" (bytes 8..10); stream 2 gives the rest of it; stream 3 the end.
    const hub = fakeHub(log, { cuts: [[4, 9], [11], [log.length]], states: ["running", "running", "running", "succeeded"] });
    const { pieces, errors } = await run(hub.door);
    expect(errors).toEqual([]);
    expect(hub.calls).toEqual([0, 9, 11]);
    expect(pieces.map((p) => p.text).join("")).toBe("one\ntwo €\nthree\n");
    expect(pieces.at(-1)).toEqual({ text: "", offset: log.length, done: true });
    expect(pieces.filter((p) => p.done)).toHaveLength(1);
  });

  it("gives each line the time the hub received it, across reconnections", async () => {
    const log = utf8("one\ntwo €\nthree\nend");
    // Appends at 0, 4, 10 and 17: "three\n" begins at 12, inside the third; "end" at 18, inside the fourth.
    const appends = [
      { offset: 0, at: 100 },
      { offset: 4, at: 200 },
      { offset: 10, at: 300 },
      { offset: 17, at: 400 },
    ];
    const hub = fakeHub(log, { cuts: [[4, 9], [11], [log.length]], states: ["running", "running", "running", "succeeded"] });
    const reads: number[] = [];
    const door: LogDoor = {
      ...hub.door,
      logTimes: async (_id, offset) => {
        reads.push(offset);
        return { marks: appends.filter((_m, i) => (appends[i + 1]?.offset ?? Infinity) > offset) };
      },
      now: () => 0,
    };
    const { pieces, errors } = await run(door);
    expect(errors).toEqual([]);
    expect(hub.calls).toEqual([0, 9, 11]);
    expect(pieces.map((p) => p.text).join("")).toBe("one\ntwo €\nthree\nend");
    expect(pieces.flatMap((p) => Array.from(p.line_ms ?? []))).toEqual([100, 200, 300, 400]);
    expect(pieces.at(-1)).toEqual({ text: "", offset: log.length, done: true, line_ms: [400] });
    expect(reads[0]).toBe(0);
  });

  it("shows the log without times when the hub has none to give", async () => {
    const log = utf8("one\ntwo\n");
    const hub = fakeHub(log, { cuts: [[log.length]], states: ["succeeded"] });
    const door: LogDoor = {
      ...hub.door,
      logTimes: async () => {
        throw new HubError(404, "no_such_route", "no such route; see /v1/openapi.json");
      },
    };
    const { pieces, errors } = await run(door);
    expect(errors).toEqual([]);
    expect(pieces.map((p) => p.text).join("")).toBe("one\ntwo\n");
    expect(pieces.every((p) => p.line_ms === undefined)).toBe(true);
  });

  it("goes on after a network failure, from where it was", async () => {
    const log = utf8("abcdef");
    const hub = fakeHub(log, { cuts: [[2], [3], [4], [6]], states: ["running", "running", "running", "failed"] });
    const { pieces } = await run(hub.door);
    expect(hub.calls).toEqual([0, 2, 3, 4]);
    expect(pieces.map((p) => p.text).join("")).toBe("abcdef");
    expect(pieces.at(-1)?.done).toBe(true);
  });

  it("starts a long log near its end", async () => {
    const log = new Uint8Array(TAIL_BYTES + 100).fill(0x61);
    const hub = fakeHub(log, { cuts: [[log.length]], states: ["succeeded"] });
    const { pieces } = await run(hub.door);
    expect(hub.calls).toEqual([100]);
    expect(pieces[0].offset - pieces[0].text.length).toBe(100);
  });

  it("stops with the hub's sentence on a refusal", async () => {
    const door: LogDoor = {
      showTask: async () => {
        throw new HubError(404, "not_found", "no task t9 on this hub");
      },
      followLog: async () => {},
      sleep: async () => {},
    };
    const { errors, pieces } = await run(door, "t9");
    expect(errors).toEqual(["no task t9 on this hub"]);
    expect(pieces).toEqual([]);
  });

  it("calls nothing more after the stop", async () => {
    let release!: () => void;
    const seen: LogPiece[] = [];
    const door: LogDoor = {
      showTask: async () => ({ state: "running", log_size: 0 }),
      followLog: (_id, _offset, onBytes, signal) =>
        new Promise<void>((resolve) => {
          release = () => {
            onBytes(utf8("late"));
            resolve();
          };
          signal.addEventListener("abort", () => undefined);
        }),
      sleep: async () => {},
    };
    const stop = followHubLog("t", (p) => seen.push(p), () => {}, String, door);
    await new Promise((r) => setTimeout(r, 0));
    stop();
    release();
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual([]);
  });
});
