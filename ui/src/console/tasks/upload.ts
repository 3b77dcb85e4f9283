// Files chosen on the Submit page go to the hub as blobs: each is hashed
// (SHA-256, ./sha256.ts), skipped when the hub holds it already (HEAD),
// else uploaded with PUT to its blob URL. XMLHttpRequest, not fetch: only
// it reports an upload's progress.

import { HubError, blobUrl, csrfHeader, hasBlob } from "../hub";
import type { InputEntry } from "./inputs";
import { hashBlob } from "./sha256";

/** One chosen file and the path it gets in the task folder. */
export type ChosenFile = { file: File; path: string };

/** Where a file's upload stands, shown on its row. */
export type FileStatus = "waiting" | "hashing" | "on hub" | "uploading" | "uploaded";

/** The page's view of the whole: bytes sent of the bytes to send, and each file's status. */
export type Progress = { done: number; total: number; status: FileStatus[] };

/** What preparing the inputs calls: the real hub, or stand-ins in tests. */
export type BlobDoor = {
  hash: (file: File) => Promise<string>;
  has: (sha256: string) => Promise<boolean>;
  put: (file: File, sha256: string, onSent: (bytes: number) => void) => Promise<void>;
};

/** Sends one blob with PUT, reporting the bytes sent so far; a HubError when refused. */
export function putBlob(file: Blob, sha256: string, onSent: (bytes: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", blobUrl(sha256));
    xhr.withCredentials = true;
    for (const [name, value] of Object.entries(csrfHeader())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onSent(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onSent(file.size);
        resolve();
        return;
      }
      let code = "http_error";
      let message = `the hub answered ${xhr.status} to the upload`;
      try {
        const body = JSON.parse(xhr.responseText) as { code?: string; message?: string };
        if (body.code && body.message) ({ code, message } = body as { code: string; message: string });
      } catch {
        // not the hub's JSON
      }
      reject(new HubError(xhr.status, code, message));
    };
    xhr.onerror = () => reject(new Error("The upload broke off; check the connection to the hub and try again."));
    xhr.send(file);
  });
}

export const realBlobDoor: BlobDoor = { hash: (file) => hashBlob(file), has: hasBlob, put: putBlob };

/**
 * Makes sure the hub holds every chosen file, and gives the job's inputs
 * entries. `onProgress` hears the bytes uploaded of the total of the files
 * the hub lacked, and each file's status.
 */
export async function prepareInputs(
  chosen: readonly ChosenFile[],
  onProgress: (p: Progress) => void,
  door: BlobDoor = realBlobDoor,
): Promise<InputEntry[]> {
  const status: FileStatus[] = chosen.map(() => "waiting");
  const shas: string[] = [];
  const missing: number[] = [];
  const report = (done: number, total: number) => onProgress({ done, total, status: [...status] });
  for (let i = 0; i < chosen.length; i++) {
    status[i] = "hashing";
    report(0, 0);
    const sha = await door.hash(chosen[i].file);
    shas.push(sha);
    if (await door.has(sha)) status[i] = "on hub";
    else {
      status[i] = "waiting";
      missing.push(i);
    }
    report(0, 0);
  }
  const total = missing.reduce((n, i) => n + chosen[i].file.size, 0);
  let before = 0;
  for (const i of missing) {
    status[i] = "uploading";
    report(before, total);
    await door.put(chosen[i].file, shas[i], (sent) => report(before + Math.min(sent, chosen[i].file.size), total));
    before += chosen[i].file.size;
    status[i] = "uploaded";
    report(before, total);
  }
  return chosen.map((c, i) => ({ sha256: shas[i], path: c.path.trim() }));
}
