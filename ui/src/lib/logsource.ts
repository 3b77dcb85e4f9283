// The desktop's log source: src-tauri's `follow_log` channel and its
// `save_log` command (a save dialog, then the file written by the backend).

import type { LogSource } from "../shared/logsource";
import * as api from "./api";

/** The log of task `id`, read through the desktop's backend. */
export function desktopLogSource(id: string): LogSource {
  return {
    follow(onPiece, onError) {
      let over = false;
      let subscription: number | null = null;
      api
        .followLog(id, (batch) => {
          if (!over) onPiece(batch);
        })
        .then(
          (sub) => {
            if (over) api.unfollowLog(sub).catch(() => {});
            else subscription = sub;
          },
          (e) => {
            if (!over) onError(api.errorMessage(e));
          },
        );
      return () => {
        over = true;
        if (subscription !== null) api.unfollowLog(subscription).catch(() => {});
      };
    },
    async download() {
      try {
        return await api.saveLog(id);
      } catch (e) {
        throw new Error(api.errorMessage(e));
      }
    },
  };
}
