// The browser tests' page: installs the mock backend (mock-backend.ts), then
// runs the app's own entry, src/main.ts, which mounts the real App (and does
// whatever else the app does first). The URL's query picks the scenario,
// e.g. harness.html?gpu=none&mode=local.

import { installMockBackend, parseScenario, type MockControl } from "./mock-backend";

declare global {
  interface Window {
    __mock: MockControl;
    __mounted: boolean;
  }
}

window.__mock = installMockBackend(parseScenario(location.search));

// Imported only now, after the mocks exist, so that nothing in the app can
// reach for __TAURI_INTERNALS__ before they do.
await import("../../src/main");
window.__mounted = true;
