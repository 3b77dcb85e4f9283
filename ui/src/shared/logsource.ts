// Where a log viewer's text comes from. The viewer (LogView.svelte) knows
// nothing of the desktop's Tauri channels or the hub's HTTP stream: each
// side hands it a LogSource, so one viewer serves both.

/** A piece of a log, in order. */
export type LogPiece = {
  /** The next bytes of the log as text (invalid UTF-8 replaced). */
  text: string;
  /** The byte offset where this piece ends (only grows; a repeat is ignored). */
  offset: number;
  /** The task ended and the log is complete. */
  done: boolean;
  /** When each line that begins in `text` was written (ms since the epoch); absent or empty where unknown. */
  line_ms?: ArrayLike<number>;
};

/** A task's log as the viewer reads it. */
export interface LogSource {
  /**
   * Starts following the log: `onPiece` gets each piece as it comes,
   * `onError` a sentence when the log cannot be read. Returns the
   * unsubscribe; after it, neither is called again.
   */
  follow(onPiece: (piece: LogPiece) => void, onError: (message: string) => void): () => void;
  /**
   * Downloads the whole log: the path it was saved to, or null when there is
   * nothing to say (the person canceled, or the browser took the download).
   * Rejects with an Error whose message is the sentence to show.
   */
  download(): Promise<string | null>;
}
