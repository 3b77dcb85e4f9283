// The Cluster page's words for a node's image policy: which images it runs,
// as its agent told the hub (`--allowed-images`, `--pinned-images-only`).

import type { ImagePolicy } from "../hub";

/** "Any image", "Only registry.example.com/**, nvidia/*", "Only images pinned by digest", or both. */
export function imagePolicyText(policy: ImagePolicy | null | undefined): string {
  const allowed = policy?.allowed ?? [];
  const pinned = policy?.pinned_only ?? false;
  if (allowed.length === 0) return pinned ? "Only images pinned by digest" : "Any image";
  return `Only ${allowed.join(", ")}${pinned ? ", pinned by digest" : ""}`;
}
