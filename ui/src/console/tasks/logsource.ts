// The console's log source: the hub's `GET /v1/tasks/{id}/log?follow=true`
// (raw bytes as they arrive), decoded with a streaming TextDecoder so a
// character cut between two pieces comes out whole and invalid bytes become
// U+FFFD. When the stream ends, the task's state says whether the log is
// complete (`done`) or the stream broke (then it starts again from the last
// byte received, after a pause that grows while it keeps failing).
//
// A long log starts near its end (TAIL_BYTES before it), as the desktop's
// does: the viewer says that the start is not shown, and Download gives all.
//
// Each line carries the time the hub received it (see logtimes.ts): the
// marks of what exists are read once as the page opens, and those of bytes
// that arrive live as they come, a few reads a second at most.

import type { LogPiece, LogSource } from "../../shared/logsource";
import { isFinished } from "../../shared/format";
import { HubError, followLog, logTimes, logUrl, showTask, type LogTimes, type Task } from "../hub";
import { TimedFeed } from "./logtimes";

/** How much of a long log's end is read when the page opens (bytes). */
export const TAIL_BYTES = 4 << 20;
/** Pauses before reconnecting (ms): the first, and the most it grows to. */
export const RETRY_FIRST_MS = 500;
export const RETRY_MAX_MS = 10_000;

/** What the source calls on the hub: the real client, or a stand-in in tests. */
export type LogDoor = {
  followLog: (id: string, offset: number, onBytes: (b: Uint8Array) => void, signal: AbortSignal) => Promise<void>;
  showTask: (id: string) => Promise<Pick<Task, "state" | "log_size">>;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** One page of the log's time marks from `offset`; without it, lines have no times. */
  logTimes?: (id: string, offset: number) => Promise<LogTimes>;
  /** The clock that paces reads of marks (Date.now when absent). */
  now?: () => number;
};

const realSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

const realDoor: LogDoor = { followLog, showTask, sleep: realSleep, logTimes, now: Date.now };

/** Turns byte pieces into text pieces with their end offsets. */
export class LogDecoder {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  /** The byte offset after the last byte taken. */
  offset: number;

  constructor(start: number) {
    this.offset = start;
  }

  /** The text of the next bytes (a cut character waits for its rest). */
  take(bytes: Uint8Array): LogPiece {
    this.offset += bytes.length;
    return { text: this.decoder.decode(bytes, { stream: true }), offset: this.offset, done: false };
  }

  /** The end of the log: what a cut character left behind, replaced. */
  finish(): LogPiece {
    return { text: this.decoder.decode(), offset: this.offset, done: true };
  }
}

/**
 * Follows task `id`'s log, calling `onPiece` with its text and `onError`
 * with a sentence when it cannot be read (the error is also given to
 * `onRefusal`, so a 401 can end the session). Returns the stop.
 */
export function followHubLog(
  id: string,
  onPiece: (piece: LogPiece) => void,
  onError: (message: string) => void,
  onRefusal: (error: unknown) => string,
  door: LogDoor = realDoor,
): () => void {
  const stop = new AbortController();
  const { signal } = stop;
  void (async () => {
    let decoder: LogDecoder | null = null;
    let feed: TimedFeed | null = null;
    let pause = RETRY_FIRST_MS;
    while (!signal.aborted) {
      try {
        if (decoder === null) {
          const task = await door.showTask(id);
          const start = Math.max(0, task.log_size - TAIL_BYTES);
          const d = new LogDecoder(start);
          decoder = d;
          feed = timedFeed(id, start, door, signal, (bytes, lineMs) => {
            const piece = d.take(bytes);
            if (piece.text !== "") onPiece(lineMs === undefined ? piece : { ...piece, line_ms: lineMs });
          });
          feed?.prime(task.log_size);
        }
        const d: LogDecoder = decoder;
        const f: TimedFeed | null = feed;
        // Bytes still waiting for their times are decoded before the stream resumes after them.
        await f?.drain();
        if (signal.aborted) return;
        const before = d.offset;
        await door.followLog(
          id,
          d.offset,
          (bytes) => {
            if (signal.aborted || bytes.length === 0) return;
            if (f !== null) {
              f.push(bytes);
              return;
            }
            const piece = d.take(bytes);
            if (piece.text !== "") onPiece(piece);
          },
          signal,
        );
        await f?.drain();
        if (signal.aborted) return;
        // The hub ends the stream when the task has ended and all is sent;
        // else it broke (a proxy's timeout, the hub restarting): go on.
        const task = await door.showTask(id);
        if (isFinished(task.state) && d.offset >= task.log_size) {
          const end = d.finish();
          onPiece(f === null || f.timeless ? end : { ...end, line_ms: f.times.last(end.offset) });
          return;
        }
        if (d.offset > before) pause = RETRY_FIRST_MS;
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof HubError && (e.status === 401 || e.status === 403 || e.status === 404)) {
          onError(onRefusal(e));
          return;
        }
      }
      await door.sleep(pause, signal);
      pause = Math.min(RETRY_MAX_MS, pause * 2);
    }
  })();
  return () => stop.abort();
}

/** The feed that gives lines their times, when the door can read marks. */
function timedFeed(
  id: string,
  start: number,
  door: LogDoor,
  signal: AbortSignal,
  onBytes: (bytes: Uint8Array, lineMs: number[] | undefined) => void,
): TimedFeed | null {
  const read = door.logTimes;
  if (read === undefined) return null;
  const feedDoor = { logTimes: (offset: number) => read(id, offset), sleep: door.sleep, now: door.now ?? Date.now };
  return new TimedFeed(start, feedDoor, (_from, bytes, lineMs) => onBytes(bytes, lineMs), signal);
}

/** Starts the browser's download of the whole log (the session cookie goes with it). */
function downloadLog(id: string): void {
  const link = document.createElement("a");
  link.href = logUrl(id);
  link.download = `${id}.log`;
  link.rel = "noopener";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

/** Task `id`'s log, read from the hub; `onRefusal` turns an error into its sentence (and ends the session on a 401). */
export function hubLogSource(id: string, onRefusal: (error: unknown) => string): LogSource {
  return {
    follow: (onPiece, onError) => followHubLog(id, onPiece, onError, onRefusal),
    download: async () => {
      downloadLog(id);
      return null;
    },
  };
}
